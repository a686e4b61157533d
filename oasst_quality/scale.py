"""Past one machine: the report's statistics on a Dask cluster, from exports partitioned by tree.

:func:`partition` reads one or more exports on the cluster's workers: each file is cut into
chunks (byte ranges of a JSON-lines file, row groups of a parquet file, one chunk per gzip file),
every record goes to the partition its tree id hashes to, so a tree and its reply sets never
split, and the partitions stay on the workers as raw records (compact; no worker holds the whole
export). :class:`Partitioned` is an :class:`~oasst_quality.engine.Engine`: it builds each
partition's Dataset once where it lives and keeps it for every pass; :meth:`Partitioned.map_reduce`
applies a function of :mod:`oasst_quality.partials` to each and merges the results.
:func:`oasst_quality.report.compute` takes a :class:`Partitioned` as it takes a Dataset.

Needs the ``dask`` extra (``pip install "oasst_quality[dask]"``); the core never imports it.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import adapter, partials
from ._aside import InThread
from ._util import gc_paused
from .annotations import Annotations
from .errors import FormatError, UsageError
from .io import records as rec
from .io.tables import build

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .engine import Pending

BLOCKSIZE = 64 * 2**20  # bytes of JSON lines per chunk, and roughly per partition


def _dask():
    try:
        import distributed
    except ImportError:
        raise UsageError('the Dask engine needs the dask extra: pip install "oasst_quality[dask]"') from None
    return distributed


@contextmanager
def cluster(scheduler: str | None = None, *, workers: int = 2, memory_limit: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on the scheduler at ``scheduler`` (``tcp://host:8786``), or on a
    local cluster of ``workers`` single-threaded processes (closed on exit)."""
    distributed = _dask()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (ValueError, OSError, TimeoutError) as exc:  # a malformed address, or nothing listening there
            raise UsageError(
                f"--scheduler {scheduler!r}: no Dask scheduler reached ({exc}); give its address, e.g. tcp://host:8786"
            ) from None
        with client:
            yield client
        return
    import dask

    with warnings.catch_warnings(), dask.config.set(_QUIET):
        # its health endpoints take another port when a second local cluster runs: nothing to act on
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        local = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=memory_limit or "auto",
            silence_logs=logging.CRITICAL,
        )
        with local, distributed.Client(local) as client:
            yield client


#: A local cluster's housekeeping, slowed to what a cluster without a dashboard needs. Dask's
#: defaults (a stack sampler every 10 ms in each worker for the dashboard's profile, an event-loop
#: tick every 20 ms, a memory check every 100 ms, work stealing every 100 ms) cost 0.9 CPU seconds
#: per idle worker and 1.2 on the client over 30 idle seconds, 0.09 and 0.23 with these (one-off
#: measurements: docs/scale.md says how): on a busy machine, where a 1x report takes minutes, the
#: defaults added a third to its CPU seconds.
#: Stealing would move a partition away from the worker that holds it, so it is off.
_QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.scheduler.work-stealing": False,
}


@dataclass(frozen=True)
class Chunk:
    """A piece of one source that one task reads: ``kind`` is ``lines`` (bytes ``start``-``end``
    of a JSON-lines file, its first line numbered ``first``), ``stream`` (a whole gzip file) or
    ``rows`` (row groups of a parquet file, its first row numbered ``first``)."""

    source: int
    path: str
    kind: str
    start: int = 0
    end: int = 0
    first: int = 1
    groups: tuple[int, ...] = ()


def _sources(paths: Sequence[str | Path]) -> list[tuple[Path, list[Path]]]:
    """Each input as (the path errors name, the files it reads)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.append((p, rec.shards(p)))
        elif not p.exists():
            raise FormatError("file not found", path=p)
        else:
            out.append((p, [p]))
    return out


def _names(paths: list[str]) -> list[str]:
    """The inputs' names, a repeated one told apart (``a.jsonl (copy 2)``) so that every problem
    says which copy it is in."""
    out, times = [], {}
    for p in paths:
        times[p] = times.get(p, 0) + 1
        out.append(p if times[p] == 1 else f"{p} (copy {times[p]})")
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def plan(paths: Sequence[str | Path], *, blocksize: int = BLOCKSIZE) -> list[Chunk]:
    """The chunks that read ``paths``; line numbers of JSON-lines chunks come from one pass that
    counts newlines in the mapped file (about 0.4 CPU seconds per GB)."""
    return _plan(_sources(paths), blocksize)


def _plan(sources: list[tuple[Path, list[Path]]], blocksize: int) -> list[Chunk]:
    import pyarrow.parquet as pq

    chunks: list[Chunk] = []
    for i, (source, files) in enumerate(sources):
        row = 1
        for f in files:
            magic = _magic(f)
            if magic == b"PAR1":
                meta = pq.ParquetFile(f).metadata
                rec.check_columns(meta.schema.to_arrow_schema().names, str(f), None)
                part: list[int] = []
                size = 0
                for g in range(meta.num_row_groups):
                    part.append(g)
                    size += meta.row_group(g).total_byte_size
                    if size >= blocksize or g == meta.num_row_groups - 1:
                        chunks.append(Chunk(i, str(f), "rows", first=row, groups=tuple(part)))
                        row += sum(meta.row_group(k).num_rows for k in part)
                        part, size = [], 0
            elif magic[:2] == b"\x1f\x8b":
                chunks.append(Chunk(i, str(source), "stream"))
            else:
                chunks += _line_chunks(i, f, blocksize)
    return chunks


def _line_chunks(source: int, path: Path, blocksize: int) -> list[Chunk]:
    """Byte ranges of about ``blocksize`` that end after a newline (a longer line makes its range
    longer), each with the number of its first line, read off the file mapped in memory."""
    import mmap

    size = path.stat().st_size
    if not size:
        raise FormatError("empty file: no records", path=path)
    out, start, pos, line = [], 0, 0, 1
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        while pos < size:
            stop = min(pos + blocksize, size)
            cut = mm.rfind(b"\n", pos, stop)
            if cut < 0:  # no line ends in this block: the range grows to the next one that does
                pos = stop
                continue
            end = cut + 1
            out.append(Chunk(source, str(path), "lines", start, end, line))
            line += _newlines(mm, start, end)
            start = pos = end
    if size > start:
        out.append(Chunk(source, str(path), "lines", start, size, line))
    return out


def _newlines(mm: Any, start: int, end: int, step: int = 4 * 2**20) -> int:
    """How many newlines bytes ``start``-``end`` of a mapped file hold, counted ``step`` bytes at a
    time (a small comparison array, no copy of the bytes)."""
    import numpy as np

    return sum(
        int(np.count_nonzero(np.frombuffer(mm, np.uint8, min(step, end - at), at) == 10))
        for at in range(start, end, step)
    )


def _records(chunk: Chunk) -> Iterator[rec.Record]:
    """The records of a gzip stream or of parquet row groups, as the loader reads them."""
    path = Path(chunk.path)
    if chunk.kind == "stream":
        fh, _ = rec.open_export(path)
        with fh:
            yield from rec.json_lines(path, fh)
        return
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(path).read_row_groups(list(chunk.groups)).to_pylist()
    yield from rec.typed_rows(rows, chunk.path, chunk.first)


# A JSON string cannot hold an unescaped quote, so this pattern only matches a key: every message
# of a tree record carries the same tree id, and a flat message its own.
_TREE_ID = re.compile(rb'"message_tree_id"\s*:\s*"([^"\\]+)"')


def _tree_key(obj: Any, line: int) -> str:
    if isinstance(obj, dict):
        key = obj.get("message_tree_id") or obj.get("message_id")
        if isinstance(key, str):
            return key
    return f"line {line}"  # unreadable: rejected (or reported) wherever it lands


@dataclass(frozen=True)
class Bucket:
    """Records on their way to one partition, in few objects (a worker sends and frees a few arrays
    and byte strings, not an object per line): raw JSON lines as byte strings (``data``: each holds
    whole lines, and a join keeps its parts' strings rather than copy them into one), cut at ``ends``
    (offsets into the strings read one after the other), with their ``source`` index and ``line``
    number, and the records that travel parsed (``(source, line, value, error)``: parquet rows,
    gzip streams, a DataFrame's rows)."""

    source: Any
    line: Any
    ends: Any
    data: tuple[bytes, ...] = ()
    parsed: tuple = ()

    @classmethod
    def of(cls, source: list[int], line: list[int], blobs: list[bytes], parsed: list[tuple]) -> Bucket:
        import numpy as np

        ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        return cls(np.array(source, np.int32), np.array(line, np.int64), ends, (b"".join(blobs),), tuple(parsed))

    def __len__(self) -> int:
        return len(self.line) + len(self.parsed)

    def lines(self, rows: np.ndarray) -> list[bytes]:
        """The raw lines at positions ``rows`` (among the raw lines), each sliced off its string."""
        import numpy as np

        bounds = np.cumsum([len(d) for d in self.data], dtype=np.int64)  # each string's end
        ends = self.ends[rows]
        starts = np.where(rows > 0, self.ends[rows - 1], 0)
        blob = np.searchsorted(bounds, starts, side="right")  # an empty string holds no line
        offset = (bounds - [len(d) for d in self.data])[blob]
        data = self.data
        return [data[k][a:b] for k, a, b in zip(blob.tolist(), (starts - offset).tolist(), (ends - offset).tolist())]


# _split and _built make an object per line or record on a worker: with the cyclic garbage
# collector paused (a @contextmanager is also a decorator), no automatic collection walks every
# object the worker holds, its partitions' included
@gc_paused()
def _split(chunk: Chunk, n: int) -> list[Bucket]:
    """The chunk's records, by the partition their tree id hashes to (a stable hash: every
    process must agree). Lines travel raw and are parsed again where the partition is built."""
    if chunk.kind == "lines":
        return _split_lines(chunk, n)
    lines: list[list[int]] = [[] for _ in range(n)]
    blobs: list[list[bytes]] = [[] for _ in range(n)]
    parsed: list[list[tuple]] = [[] for _ in range(n)]
    for _, line, blob, obj, error in _records(chunk):
        found = _TREE_ID.search(blob) if blob else None
        if found:
            key = found.group(1)
        else:  # no tree id to read off the line: parse it (a "replies" tree, a bad line, a parquet row)
            key = _tree_key(obj if not blob else rec.parse(blob, line)[0], line).encode()
        b = zlib.crc32(key) % n
        if blob:
            lines[b].append(line)
            blobs[b].append(blob)
        else:
            parsed[b].append((chunk.source, line, obj, error))
    return [Bucket.of([chunk.source] * len(lines[b]), lines[b], blobs[b], parsed[b]) for b in range(n)]


def _parsed_key(line: bytes, number: int) -> bytes | None:
    """The tree key of a line without a tree id to read off it (parsed for it), None if it is blank."""
    return _tree_key(rec.parse(line, number)[0], number).encode() if line.strip() else None


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Where each line of ``data`` starts and ends (its newline included), the lines as the
    loader's reader cuts them (a binary stream's ``readlines``): after each ``\\n`` (a ``\\r``
    before it stays with its line, a lone ``\\r`` inside it), the last one wherever ``data`` ends."""
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10).astype(np.int64) + 1
    if len(data) and (not len(ends) or ends[-1] != len(data)):
        ends = np.append(ends, np.int64(len(data)))
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1]
    return starts, ends


def _split_lines(chunk: Chunk, n: int) -> list[Bucket]:
    """:func:`_split` of a byte range of JSON lines, cut and numbered as the loader's line reader
    does (a byte-order mark off the file's first line, blank lines left out), hashed by the tree id
    read off each line (a line without one is parsed for it) and gathered per partition with one
    stable sort: the lines are found by their offsets in the range (:func:`_line_bounds`) and
    searched and joined in place, never copied out one by one."""
    import numpy as np

    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    starts, ends = _line_bounds(data)
    if chunk.first == 1 and data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
        starts[0] = 3
    first, last = starts.tolist(), ends.tolist()
    keys = [  # None: a blank line
        found.group(1) if found else _parsed_key(data[a:b], number)
        for found, a, b, number in zip(
            map(_TREE_ID.search, itertools.repeat(data), first, last), first, last, itertools.count(chunk.first)
        )
    ]
    bucket = np.fromiter((-1 if k is None else zlib.crc32(k) % n for k in keys), np.int64, len(keys))
    order = np.argsort(bucket, kind="stable")
    cuts = np.searchsorted(bucket[order], np.arange(n + 1))  # blank lines (-1) sort first, in no partition
    line = np.arange(chunk.first, chunk.first + len(keys), dtype=np.int64)
    sizes = ends - starts
    view = memoryview(data)
    out = []
    for a, b in itertools.pairwise(cuts.tolist()):
        mine = order[a:b]
        out.append(
            Bucket(
                np.full(len(mine), chunk.source, np.int32),
                line[mine],
                np.cumsum(sizes[mine], dtype=np.int64),
                (b"".join([view[i:j] for i, j in zip(starts[mine].tolist(), ends[mine].tolist())]),),
            )
        )
    return out


def _take(buckets: list[Bucket], b: int) -> Bucket:
    return buckets[b]


def _join(*parts: Bucket) -> Bucket:
    """The parts as one bucket: their arrays joined, their strings kept as they are."""
    import numpy as np

    sizes = [sum(map(len, p.data)) for p in parts]
    offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
    return Bucket(
        np.concatenate([p.source for p in parts]),
        np.concatenate([p.line for p in parts]),
        np.concatenate([p.ends + o for p, o in zip(parts, offsets)]),
        tuple(d for p in parts for d in p.data if d),
        tuple(r for p in parts for r in p.parsed),
    )


@gc_paused()
def _built(records: Bucket, sources: list[str], lenient: bool, foreign: dict | None = None):
    """The partition's Dataset and its tables (:func:`oasst_quality.adapter.tables`), and the
    message ids it loaded with their (source index, line).

    The records are read in input order (source, then line), whatever file each came from: a tree
    whose records sit in several files is one tree, and a record repeated across files is a
    duplicate, as when the files are loaded one after the other. Raw lines are read a run of one
    file's lines at a time, up to ``CHUNK`` of them, as the in-memory load reads them
    (:func:`~oasst_quality.io.records.line_records`: Arrow's JSON reader where it can stand in);
    a parsed record breaks a run. ``foreign``: the message ids that a record of another partition
    loaded first, with its (file, line); a record holding one is set aside as a ``duplicate_message``.
    """
    import numpy as np
    import pandas as pd

    raw = len(records.line)
    source = np.concatenate([records.source, np.array([r[0] for r in records.parsed], np.int32)])
    order = np.lexsort((np.concatenate([records.line, np.array([r[1] for r in records.parsed], np.int64)]), source))
    in_order, is_raw = source[order], order < raw
    cuts = np.flatnonzero((in_order[1:] != in_order[:-1]) | ~is_raw[1:] | ~is_raw[:-1]) + 1
    runs = list(itertools.pairwise([0, *cuts.tolist(), len(order)])) if len(order) else []
    present = [sources[i] for i in np.unique(source).tolist()]

    def items():
        for a, b in runs:
            if not is_raw[a]:  # a parsed record, on its own
                at, number, value, error = records.parsed[order[a] - raw]
                yield rec.Record(sources[at], number, b"", value, error)
                continue
            for at in range(a, b, rec.CHUNK):
                rows = order[at : min(b, at + rec.CHUNK)]
                yield from rec.line_records(sources[in_order[a]], records.line[rows].tolist(), records.lines(rows))

    seen: dict[str, tuple[str, int]] = dict(foreign) if foreign else {}
    ds = build(items(), ", ".join(present), lenient=lenient, partial=True, seen=seen)
    index = {name: i for i, name in enumerate(sources)}
    loaded = [(mid, where) for mid, where in seen.items() if not foreign or mid not in foreign]
    ids = pd.DataFrame(
        {
            "id": pd.Series([mid for mid, _ in loaded], dtype=object),
            "source": pd.array([index[w[0]] for _, w in loaded], dtype="int32"),
            "line": pd.array([w[1] for _, w in loaded], dtype="int64"),
        }
    )
    return [(ds, adapter.tables(ds))], ids


def _datasets(records: Bucket, sources: list[str], lenient: bool, foreign: dict | None) -> list:
    return _built(records, sources, lenient, foreign)[0]


def _item(pair: tuple, i: int) -> Any:
    return pair[i]


def _foreign(listed: list, sources: list[str]) -> list[dict | None]:
    """Per partition, the ids it holds that a record of another partition loaded first (the
    earliest in input order keeps them, as when the whole input is loaded in memory)."""
    import pandas as pd

    frame = pd.concat([ids.assign(part=i) for i, ids in enumerate(listed)], ignore_index=True)
    repeated = frame[frame["id"].duplicated(keep=False)]  # ids are unique within a partition
    out: list[dict | None] = [None] * len(listed)
    if repeated.empty:
        return out
    repeated = repeated.sort_values(["source", "line"], kind="stable")
    for mid, group in repeated.groupby("id", sort=False):
        first = group.iloc[0]
        for part in group["part"].iloc[1:]:
            out[part] = out[part] or {}
            out[part][mid] = (sources[first["source"]], int(first["line"]))
    return out


def _apply(datasets: list, fn: Callable, args: tuple, merge: Callable, kwargs: dict) -> Any:
    result = None
    for ds, t in datasets:
        part = fn(ds, t, *args, **kwargs)
        result = part if result is None else merge(result, part)
    return result


def _finish(merge: Callable, finish: Callable, *results: Any) -> Any:
    merged = results[0]
    for part in results[1:]:
        merged = merge(merged, part)
    return finish(merged)


def _count(records: Bucket) -> int:
    return len(records)


def _message_ids(ds, t) -> list:
    return [ds.messages["message_id"].to_numpy()]


def _attach(datasets: list, mine: Annotations, token: str) -> list:
    """The partition's Dataset with its rows of the per-annotator tables (``mine``) added to the
    ones attached before; row labels stay global (see :meth:`Partitioned.with_annotations`), and
    the client holds them all under ``token`` (:class:`~oasst_quality.partials.Held`)."""
    from dataclasses import replace

    (ds, t), *rest = datasets
    assert not rest, "one Dataset per partition"
    if ds.annotations is not None:
        mine = partials.annotations_add(ds.annotations, mine)
    return [(replace(ds, annotations=partials.Held(mine.votes, mine.rankings, mine.rejected, token)), t)]


def _named(ids: pd.Index, annotations: Annotations) -> pd.Index:
    """The loaded ``ids`` (unique) that ``annotations`` name: a vote's item, a ranking's group or a
    ranked reply. :func:`~oasst_quality.annotations.check_items` keeps and sets aside the same rows
    with these as with every loaded id, and does less: pandas' ``isin`` of a text column makes an
    Arrow scalar of each id it is given (5 CPU seconds at 4x with every loaded id)."""
    import numpy as np

    from .consensus import ballot_rows

    _, ranked, _ = ballot_rows(annotations.rankings["ranking"])
    named = np.concatenate(
        [
            annotations.votes["item"].to_numpy(dtype=object),
            annotations.rankings["group"].to_numpy(dtype=object),
            np.asarray(ranked, dtype=object),
        ]
    )
    at = ids.get_indexer(named)
    return ids[np.unique(at[at >= 0])]


def _by_partition(frame: pd.DataFrame, part: np.ndarray, n: int) -> list[pd.DataFrame]:
    """``frame``'s rows of each partition ``0 .. n-1`` (``part``: each row's), in their order:
    one stable sort and one selection, not a pass over every row per partition."""
    import numpy as np

    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(n + 1))
    ordered = frame.take(order)
    return [ordered.iloc[a:b] for a, b in itertools.pairwise(cuts)]


class Partitioned:
    """An export spread over a Dask cluster in partitions of whole trees (see :func:`partition`): an
    :class:`~oasst_quality.engine.Engine`.

    Each partition's Dataset and its tables (:func:`oasst_quality.adapter.tables`) are built
    once, on the worker that holds its records (which are then released), and stay there for every
    pass; Dask spills them to disk when a worker runs short of memory. Per-annotator tables join
    the partitions that hold their messages (:meth:`with_annotations`).

    Building waits for each partition's list of the message ids it loaded: an id that two
    partitions hold (two trees that share a message id) is a ``duplicate_message`` as in memory,
    the record that comes later in input order set aside, and the partitions that held a later
    copy are built again (``foreign`` keeps, per partition, the ids it set aside so).
    """

    def __init__(self, client, parts: list, sources: list[str], lenient: bool, source: str | list[str]) -> None:
        self.client = client
        self.sources = sources
        self.lenient = lenient
        self.source = source
        built = [client.submit(_built, p, sources, lenient, pure=False) for p in parts]
        listed = client.gather([client.submit(_item, b, 1, pure=False) for b in built])
        self.foreign: list[dict | None] = _foreign(listed, sources)
        self.parts = [
            client.submit(_datasets, p, sources, lenient, f, pure=False)
            if f
            else client.submit(_item, b, 0, pure=False)
            for p, b, f in zip(parts, built, self.foreign)
        ]
        del built  # each partition's ids are dropped with it; its Dataset and tables stay in self.parts
        #: rows of per-annotator tables attached so far, by table (the next attached row's label)
        self._rows = {"votes": 0, "rankings": 0, "rejected": 0}
        #: the loaded message ids and each one's partition (:meth:`_message_partitions`)
        self._where: tuple[pd.Index, np.ndarray] | None = None
        #: every per-annotator row attached (global row labels), which the annotator section reads
        #: here instead of gathering the partitions' back (partials.HELD[self._token])
        self._held: Annotations | None = None
        self._token = uuid.uuid4().hex

    def __len__(self) -> int:
        return len(self.parts)

    def _message_partitions(self) -> tuple[pd.Index, np.ndarray]:
        """The loaded message ids and each one's partition number, gathered to the client on the
        first call only: the partitions' messages do not change once they are built."""
        if self._where is None:
            import numpy as np
            import pandas as pd

            listed = self.map_reduce(_message_ids)  # one array per partition, in partition order
            part = np.repeat(np.arange(len(listed)), [len(a) for a in listed])
            # object ids, as a loaded Dataset holds them: the check then looks them up as in memory
            self._where = pd.Index(np.concatenate(listed), dtype=object), part
        return self._where

    def with_annotations(
        self, annotations: Annotations, *, lenient: bool = False, source: str = "annotations"
    ) -> Partitioned:
        """Per-annotator votes and rankings (:class:`~oasst_quality.annotations.Annotations`) attached
        to the partitions that hold their messages, checked as
        :meth:`oasst_quality.dataset.Dataset.with_annotations` checks them (the same errors, or the
        same rows set aside): a vote goes with its item's tree, a ranking with its reply set's.

        The client lists the loaded message ids once (on the first call), for the check (given only
        the ids the rows name: :func:`_named`) and to send each partition its rows only. Each row
        keeps its place in the input (a global row label), so that the tables are in the order the
        in-memory path holds them. The client keeps the
        rows it sent (:class:`~oasst_quality.partials.Held`): the annotator section reads them here,
        and the partitions send back only their token. Attached in place (the partitions stay on
        the workers); returns this object.
        """
        from .annotations import check_items

        ids, part = self._message_partitions()
        checked = check_items(annotations, _named(ids, annotations), lenient=lenient, source=source)
        frames = {}
        for name in ("votes", "rankings", "rejected"):
            frame = getattr(checked, name)
            frames[name] = frame.set_axis(range(self._rows[name], self._rows[name] + len(frame)))
            self._rows[name] += len(frame)
        held = Annotations(frames["votes"], frames["rankings"], frames["rejected"])
        self._held = held if self._held is None else partials.annotations_add(self._held, held)
        partials.HELD[self._token] = self._held
        # every id is known once checked; each table is cut by partition with one stable sort
        n = len(self.parts)
        votes = _by_partition(frames["votes"], part[ids.get_indexer(frames["votes"]["item"])], n)
        rankings = _by_partition(frames["rankings"], part[ids.get_indexer(frames["rankings"]["group"])], n)
        _dask().wait(self.parts)  # built (and attached before) first, so that they have a worker
        holders = self.client.who_has(self.parts)  # each partition's rows go straight to its worker
        parts = []
        for i, p in enumerate(self.parts):
            mine = Annotations(
                votes[i],
                rankings[i],
                frames["rejected"] if i == 0 else frames["rejected"].iloc[:0],  # counted once
            )
            sent = self.client.scatter(mine, workers=list(holders.get(p.key, ())) or None, hash=False)
            parts.append(self.client.submit(_attach, p, sent, self._token, pure=False))
        self.parts = parts
        return self

    def map_reduce(self, fn: Callable, *args, merge: Callable[[Any, Any], Any] = partials.add) -> Any:
        """``fn(dataset, tables, *args)`` on every partition's Dataset, merged by ``merge``."""
        return self.submit(fn, *args, merge=merge).result()

    def submit(
        self,
        fn: Callable,
        *args,
        merge: Callable[[Any, Any], Any] = partials.add,
        finish: Callable | None = None,
        numbered: bool = False,
    ) -> Pending:
        """Start :meth:`map_reduce` on the cluster; its ``result()`` waits for it (the client can
        work meanwhile). With ``finish``, one worker merges the partitions' results (in partition
        order) and applies it: the client receives its value, never the merged statistics.
        ``numbered``: ``fn`` also gets the partition's number, ``part=i`` (its place in ``parts``)."""
        futures = [
            self.client.submit(_apply, p, fn, args, merge, {"part": i} if numbered else {}, pure=False)
            for i, p in enumerate(self.parts)
        ]
        if finish is not None:
            return self.client.submit(_finish, merge, finish, *futures, pure=False)
        return _Pending(futures, merge)

    def aside(self, fn: Callable[[], Any]) -> InThread:
        """``fn()`` in a thread of the client, which mostly waits for the workers meanwhile."""
        return InThread(fn)


class _Pending:
    def __init__(self, futures: list, merge: Callable[[Any, Any], Any]) -> None:
        self.futures = futures
        self.merge = merge

    def result(self) -> Any:
        """The partitions' results merged on the client in partition order (so the sums are the same
        on every run), each released from its worker as soon as it is merged."""
        result = None
        for future in self.futures:
            part = future.result()
            future.release()
            result = part if result is None else self.merge(result, part)
        return result


def partition(
    paths: str | Path | Sequence[str | Path],
    client,
    *,
    lenient: bool = False,
    n_partitions: int | None = None,
    blocksize: int = BLOCKSIZE,
) -> Partitioned:
    """Read ``paths`` (export files or folders of parquet shards) on ``client``'s cluster into
    partitions of whole trees, kept on the workers.

    ``n_partitions`` defaults to one per ``blocksize`` of input, and at least two per worker.
    Errors name the file and line as :func:`oasst_quality.load` does. A repeated tree lands in
    one partition (its copies share a tree id) and is caught there; a message id that two
    different trees use is not seen when the trees fall in different partitions.
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise UsageError("give at least one export")
    found = _sources(paths)
    chunks = _plan(found, blocksize)
    size = sum(f.stat().st_size for _, files in found for f in files)
    workers = sorted(client.scheduler_info()["workers"])
    n = n_partitions or max(2 * max(1, len(workers)), math.ceil(size / blocksize))
    split = [client.submit(_split, c, n, pure=False) for c in chunks]
    # partitions dealt to the workers in turn (left to data locality, 3 of the 1x export's 4 went to
    # one worker, which then held three quarters of the export); a worker that leaves hands its on
    parts = [
        client.submit(
            _join,
            *[client.submit(_take, s, b, pure=False) for s in split],
            workers=workers[b % len(workers)] if workers else None,
            allow_other_workers=True,
            pure=False,
        )
        for b in range(n)
    ]
    counts = client.gather([client.submit(_count, p, pure=False) for p in parts])
    del split  # the chunks' buckets are released once every partition holds its records
    if not sum(counts):
        raise FormatError("empty input: no records", path=", ".join(map(str, paths)))
    sources = _names([str(s) for s, _ in found])
    source = sources[0] if len(sources) == 1 else sources
    return Partitioned(client, [p for p, k in zip(parts, counts) if k], sources, lenient, source)


def from_frame(frame, client, *, lenient: bool = False, n_partitions: int | None = None) -> Partitioned:
    """Partitions of whole trees from a Dask (or pandas) DataFrame of messages in the hub's flat
    layout (one row per message; ``message_tree_id`` among its columns, e.g.
    ``dask.dataframe.read_parquet`` of the hub's shards), shuffled by tree on the cluster and kept
    there. Rows are numbered from 1 in the frame's order, and errors name the row.
    """
    import dask.dataframe as dd

    if not isinstance(frame, dd.DataFrame):
        frame = dd.from_pandas(frame, npartitions=max(1, len(frame) // 50_000))
    if "message_tree_id" not in frame.columns:
        raise UsageError(f"the frame has no message_tree_id column (it has {', '.join(map(str, frame.columns))})")
    workers = max(1, len(client.scheduler_info()["workers"]))
    numbered = frame.assign(_row=1)
    numbered = numbered.assign(_row=numbered["_row"].cumsum())
    shuffled = numbered.shuffle("message_tree_id", npartitions=n_partitions or max(2 * workers, frame.npartitions))
    parts = [client.submit(_frame_records, p, pure=False) for p in client.compute(shuffled.to_delayed())]
    counts = client.gather([client.submit(_count, p, pure=False) for p in parts])
    if not sum(counts):
        raise FormatError("empty input: no records", path="the DataFrame")
    return Partitioned(client, [p for p, k in zip(parts, counts) if k], ["DataFrame"], lenient, "DataFrame")


def _frame_records(frame) -> Bucket:
    """A pandas partition as loader records (source 0, row number, row, no error), through Arrow
    so that every value is a plain Python object, as the parquet reader gives them."""
    import pyarrow as pa

    rows = pa.Table.from_pandas(frame, preserve_index=False).to_pylist()
    return Bucket.of([], [], [], [(0, row.pop("_row"), rec.typed_row(row), None) for row in rows])
