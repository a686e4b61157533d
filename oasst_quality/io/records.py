"""The record stream: every input record with its source and line, parsed or with its error located.

Readers here turn files (JSON lines, gzip, parquet, a folder of the hub's parquet shards) into
:class:`Record` values; they never validate the OASST schema (that is :mod:`oasst_quality.io.validate`)
and never build tables (:mod:`oasst_quality.io.tables`). The Dask engine reads through the same
functions, so a record read in a partition is the record :func:`oasst_quality.load` reads.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import math
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import orjson  # 2-3x faster than json on big exports; json stays for error messages.
import pandas as pd

from .. import _json
from ..errors import FormatError, SchemaError
from .bulk import SIZE, Batch, detox_in_order, from_arrow, read_json
from .validate import declared_type, whole


class Record(NamedTuple):
    """One input record: where it came from, its raw text, and what it parsed to.

    ``source`` names the file (or the object) it came from, ``line`` its 1-based line (or row of
    a table). ``raw`` is the line as read (``b""`` for a row of a typed table, whose ``value`` is
    the row). ``error`` is ``(detail, field)`` when the line did not parse (``value`` is then None).
    """

    source: str
    line: int
    raw: bytes
    value: Any
    error: tuple[str, str | None] | None = None

    def located(self, detail: str, field: str | None = None, kind: str = "schema_error") -> SchemaError:
        """A :class:`~oasst_quality.errors.SchemaError` at this record's file and line."""
        return SchemaError(detail, path=self.source, line=self.line, field=field, kind=kind)

    def raw_text(self) -> str:
        """The record as text, for the problems table: the line as read, or the row as JSON."""
        if self.raw:
            return self.raw.rstrip(b"\r\n").decode("utf-8", "replace")
        return json.dumps(self.value, default=str)


# --------------------------------------------------------------------------- files


def open_export(path: Path) -> tuple[BinaryIO, bytes]:
    """Open a (possibly gzip-compressed) file; return the stream and its first bytes."""
    try:
        fh: BinaryIO = open(path, "rb")
    except FileNotFoundError:
        raise FormatError("file not found", path=path) from None
    except OSError as exc:
        raise FormatError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    magic = fh.read(4)
    fh.seek(0)
    if magic[:2] == b"\x1f\x8b":
        fh.close()
        fh = gzip.GzipFile(path, "rb")  # type: ignore[assignment]  # (opened by name: closing it closes the file)
        try:
            magic = fh.read(4)
            fh.seek(0)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            fh.close()
            raise FormatError(f"truncated or corrupt gzip stream ({exc})", path=path) from None
    return fh, magic


def read(path: str | Path) -> Iterator[Record | Batch]:
    """Every record of an export file (JSON lines, gzip, parquet) or a folder of parquet shards;
    parquet in the hub's layout comes as batches of rows read column by column."""
    path = Path(path)
    if path.is_dir():
        yield from shard_records(path)
        return
    fh, magic = open_export(path)
    with fh:
        if magic == b"PAR1":
            yield from parquet_records(path)
        else:
            yield from json_batches(path, fh)


_CONSTANT = object()  # stands in for NaN / Infinity while locating them


def _constant_path(obj: Any) -> str:
    """Dotted path of the first NaN/Infinity placeholder in a parsed object (iteratively)."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        path, value = stack.pop()
        if value is _CONSTANT:
            return path or "(the whole line)"
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return "(unknown)"  # pragma: no cover - only called when a placeholder was parsed


def _diagnose(line: bytes, number: int) -> tuple[str, str | None]:
    """Explain why a line failed to parse: (detail with a hint, field)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"bytes that are not UTF-8 at byte {exc.start}: {line[exc.start : exc.start + 4]!r}", None
    stripped = text.strip()
    if text.count("\x00") * 3 >= len(text) > 0:  # every other byte NUL: UTF-16 (a BOM would have been read)
        return "the file looks UTF-16 encoded; exports are UTF-8: convert with `iconv -f UTF-16 -t UTF-8`", None
    if number == 1 and stripped == "[":
        return (
            "a pretty-printed JSON array; exports are JSON lines, one object per line: convert an array of "
            "messages with `jq -c '.[]'`; a Label Studio export (an array of tasks) goes to --annotations",
            None,
        )
    if number == 1 and stripped == "{":
        return (
            "pretty-printed JSON (one object over several lines); exports are JSON lines, one object per line: "
            "convert with `jq -c .`",
            None,
        )
    if number == 1 and not stripped.startswith(("{", "[")) and ("," in stripped or "\t" in stripped):
        return (
            "this looks like a CSV/TSV table, not an OASST export (JSON lines); per-annotator tables go to "
            "`agreement`, `aggregate` or `consensus` as PATH",
            None,
        )
    try:
        parsed = json.loads(text, parse_constant=lambda _: _CONSTANT)
    except json.JSONDecodeError as exc:
        return f"broken JSON at column {exc.colno}: {exc.msg}", None
    except RecursionError:
        try:
            _json.loads(text)
        except _json.DeepJSONError as exc:
            return f"broken JSON at column {exc.colno}: {exc.msg}", None
        return "unreadable JSON", None  # pragma: no cover - the deep parser reads what json would
    field = _constant_path(parsed)
    return "NaN or Infinity is not JSON (write null for a missing number)", field


def parse(raw: bytes, line: int) -> tuple[Any, tuple[str, str | None] | None]:
    """(object, None), or (None, (detail, field)) for a line that does not parse."""
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):  # nested deeper than orjson allows
            try:
                return _json.loads(raw.decode("utf-8")), None
            except (UnicodeDecodeError, _json.DeepJSONError):
                pass
        return None, _diagnose(raw, line)


#: Bytes read from a file at a time; its lines are split in C (``readline`` per line costs as
#: much as parsing it).
BLOCK = 1 << 20


def _lines(path: Path, fh: BinaryIO) -> Iterator[bytes]:
    """The lines of an open stream, each with its newline, split in C a block at a time. Where a
    gzip stream breaks off, the lines before the break are given one by one as ``readline`` gives
    them (the same lines, then the same error, at the same place). A line longer than a block is
    kept in pieces and joined once its newline comes (not re-copied with every block)."""
    done, pieces = 0, []
    try:
        while block := fh.read(BLOCK):
            lines = io.BytesIO(block).readlines()
            if pieces:  # the end of a line that began in an earlier block
                pieces.append(lines[0])
                if not lines[0].endswith(b"\n"):
                    continue
                lines[0] = b"".join(pieces)
                pieces = []
            if not lines[-1].endswith(b"\n"):
                pieces.append(lines.pop())
            yield from lines
            done += len(lines)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        again, _ = open_export(path)
        with again:
            for _ in range(done):
                again.readline()
            yield from again
        return
    if pieces:
        yield b"".join(pieces)


_new_record = tuple.__new__  # Record(...) without the generated __new__'s Python call, per line

#: Records read through Arrow's JSON reader at a time (:func:`json_batches`): a multiple of
#: :data:`~oasst_quality.io.bulk.SIZE`, so that the batches of records around them fall as they would
#: without them (a gzip stream that breaks off then costs the same records as before).
CHUNK = 4 * SIZE


def _numbered_lines(path: Path, fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of every non-blank line of an open JSON-lines stream; a byte-order mark
    on line 1 is dropped; a JSON array, an empty file or a broken gzip stream is a FormatError."""
    number = 0
    first = True
    try:
        for number, line in enumerate(_lines(path, fh), start=1):
            if first:
                if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                    line = line[3:]
                if line.isspace() or not line:
                    continue
                if line.lstrip()[:1] == b"[" and line.strip() != b"[":
                    raise FormatError(
                        "this is a JSON array; OASST exports are JSON lines (one object per line). "
                        "Convert it with `jq -c '.[]'`",
                        path=path,
                        line=number,
                    )
                first = False
            elif line.isspace():
                continue
            yield number, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(
            f"truncated or corrupt gzip stream after line {number} ({exc}); re-download or re-compress the file",
            path=path,
        ) from None
    if first:
        raise FormatError("empty file: no records", path=path)


def _parsed(source: str, numbered: Iterable[tuple[int, bytes]]) -> Iterator[Record]:
    """Numbered lines parsed one by one (orjson; :func:`parse` for a line it refuses)."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, line in numbered:
        try:
            value, error = loads(line), None
        except decode_error:
            value, error = parse(line, number)
        yield _new_record(Record, (source, number, line, value, error))


def json_lines(path: Path, fh: BinaryIO) -> Iterator[Record]:
    """The records of an open JSON-lines stream, one per non-blank line."""
    yield from _parsed(str(path), _numbered_lines(path, fh))


def json_batches(path: Path, fh: BinaryIO) -> Iterator[Record | Batch]:
    """The records of an open JSON-lines stream, :data:`CHUNK` lines at a time: a chunk that Arrow's
    JSON reader reads as flat messages the batch check can take (:func:`~oasst_quality.io.bulk.read_json`)
    comes as one batch, any other chunk line by line as :func:`json_lines` gives it. Where the
    stream breaks off, the lines read before the break come line by line, then the error.

    A thread of its own reads the next chunk (split, Arrow) while this one is checked and added
    (its Detoxify order too, in :func:`_chunk`: the reader's work is the longest, and this thread
    would only wait for it), and another inflates the gzip stream eight blocks ahead
    (:class:`_Inflated`): zlib and Arrow let go of the interpreter while they work."""
    from concurrent.futures import ThreadPoolExecutor

    source = str(path)
    inflate = ThreadPoolExecutor(1)
    raw = open(path, "rb") if isinstance(fh, gzip.GzipFile) else None  # closed with the threads, below
    numbered = _numbered_lines(path, _ReadAhead(fh if raw is None else _Inflated(raw), inflate))

    def read_chunk() -> tuple[list[int], list[bytes], Any, FormatError | None]:
        numbers: list[int] = []
        lines: list[bytes] = []
        try:
            for number, line in numbered:
                numbers.append(number)
                lines.append(line)
                if len(lines) == CHUNK:
                    break
        except FormatError as exc:  # the lines before it go line by line, as json_lines gives them
            return numbers, lines, None, exc
        return numbers, lines, read_json(lines) if lines else None, None

    with raw or contextlib.nullcontext(), inflate, ThreadPoolExecutor(1) as reader:  # shut down in reverse order
        ahead = reader.submit(read_chunk)
        while True:
            numbers, lines, table, error = ahead.result()
            more = error is None and len(lines) == CHUNK
            if more:
                ahead = reader.submit(read_chunk)
            yield from _chunk(source, numbers, lines, table)
            if error is not None:
                raise error
            if not more:
                return


class _Inflated:
    """A gzip file's content read 256 KB of the file at a time, inflated by zlib in one call each,
    up to four times the size asked for (``GzipFile`` inflates 8 KB at a time, each call taking and releasing
    the interpreter's lock). Anything but one whole gzip member (a stream cut short, a second member, bytes after
    it, a CRC that does not match) raises, and :func:`_lines` then reads the file again with
    ``GzipFile``, which says what is wrong where it always did."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.inflater = zlib.decompressobj(wbits=31)  # the gzip wrapper, its CRC and length checked

    def read(self, size: int) -> bytes:
        """At most four times ``size`` bytes inflated (what one call inflates past that waits for the
        next): text compresses about four times, so a block is what 256 KB of the file hold, but one
        that compresses a thousand times over is not inflated whole (capped at ``size`` itself, the
        common block was cut in two, and the load took a tenth longer)."""
        while not self.inflater.eof:
            compressed = self.inflater.unconsumed_tail or self.raw.read(1 << 18)
            if not compressed:
                raise EOFError("the gzip stream ends before its end-of-stream marker")
            block = self.inflater.decompress(compressed, 4 * size)
            if self.inflater.eof and (self.inflater.unused_data or self.raw.read(1)):
                raise EOFError("bytes after the first gzip member")
            if block:
                return block
        return b""


class _ReadAhead:
    """A stream whose next ``depth`` reads (of the same size) are done on ``pool``'s thread while
    the blocks before them are used: the same blocks in the same order, and a read's error raised
    where it falls. One block ahead was too few: the reader splits a chunk's blocks all at once,
    then leaves them while Arrow reads the chunk, so zlib, a block ahead, waited with it (the load
    took a third longer). Reads go on being queued after the end or an error (they give ``b""`` or
    an error no one reads): up to ``depth - 1`` blocks are held until the stream is let go of."""

    def __init__(self, fh: BinaryIO, pool: Any, depth: int = 8) -> None:
        self.fh, self.pool, self.depth = fh, pool, depth
        self.ahead: collections.deque = collections.deque()

    def read(self, size: int) -> bytes:
        while len(self.ahead) < self.depth:
            self.ahead.append(self.pool.submit(self.fh.read, size))
        return self.ahead.popleft().result()


def line_records(source: str, numbers: list[int], lines: list[bytes]) -> Iterator[Record | Batch]:
    """Numbered JSON lines (each with its newline, none blank) as :func:`json_batches` gives a
    chunk of them: one batch read by Arrow where it can stand in, else record by record."""
    return _chunk(source, numbers, lines, read_json(lines))


def _chunk(source: str, numbers: list[int], lines: list[bytes], table: Any) -> Iterator[Record | Batch]:
    """A chunk's lines as one batch where Arrow's read of them (``table``, or None) can stand in
    (its Detoxify heads in each line's order too: :func:`~oasst_quality.io.bulk.detox_in_order`),
    else line by line."""

    def record(i: int) -> Record:
        return next(_parsed(source, [(numbers[i], lines[i])]))

    fits = table is not None and detox_in_order(table, lines)
    batch = from_arrow(table, source, numbers, record, json=True) if fits else None
    if batch is None:
        yield from _parsed(source, zip(numbers, lines))
    else:
        yield batch


# --------------------------------------------------------------------------- typed tables

#: Fields that hold ids: a typed table may have turned ids that look like numbers into numbers.
ID_FIELDS = ("message_id", "parent_id", "message_tree_id", "user_id")
_PARTS = ("labels", "emojis", "detoxify")
_BASIC = frozenset({str, int, bool, float, dict, list, type(None)})


class _Converted:
    """How many ids a typed table held as numbers (read back as strings), and the first one."""

    def __init__(self) -> None:
        self.n = 0
        self.first: tuple[int, str, Any] | None = None


def _python(value: Any) -> Any:
    """A numpy or pandas value as the plain Python value JSON would give; NaN, NA and NaT as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.ndarray):
        return [_python(v) for v in value.tolist()]
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return [_python(v) for v in value]
    return value


def _id(value: Any, key: str, note: _Converted | None, line: int) -> Any:
    """A number where an id belongs: a whole number is read as the string it was (and counted, for
    a warning); any other number is left for the schema check, which refuses it, located."""
    if type(value) is float and not (value.is_integer() and abs(value) < 2**53):
        return value
    if note is not None:
        note.n += 1
        if note.first is None:
            note.first = (line, key, value)
    return str(int(value))


def _part(key: str, value: dict) -> dict:
    """A row's labels, emojis or detoxify as JSON would give them: an Arrow struct gives every name
    to every row (None where a row has none) and pandas gives arrays and floats."""
    names = value.get("name")
    if isinstance(names, list | np.ndarray):  # the hub's parallel arrays
        out = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in value.items()}
        counts = out.get("count")
        if type(counts) is list and float in set(map(type, counts)):
            out["count"] = [whole(c) for c in counts]
        return out
    out = {}
    for name, entry in value.items():
        if type(entry) is dict:  # a label: {value, count}
            entry = {k: _python(v) for k, v in entry.items()}
            if "count" in entry:
                entry["count"] = whole(entry["count"])
            if entry.get("value") is None and entry.get("count") is None:
                continue
        else:
            entry = _python(entry)
            if entry is None:
                continue
            if key == "emojis":
                entry = whole(entry)
        out[name] = entry
    return out


def typed_row(row: dict, note: _Converted | None = None, line: int = 0) -> dict:
    """A row of a typed table (parquet, pandas, a datasets.Dataset) as the JSON record it stands for.

    NaN, NA and NaT mean missing; numpy values become Python values; a nullable integer or boolean
    column stored as floats gives back its integers and booleans (``1.0`` is true); ids that became
    numbers are strings again; the names an Arrow struct gives every row are dropped where a row
    has none. Nested tree records (``prompt``, ``replies``) are read the same way, as copies, walked
    with a stack of their fields (a tree of any depth) in the order a recursive walk takes them.
    """
    stack = [(row, iter(row.items()))]
    while stack:
        rec, fields = stack[-1]
        for key, value in fields:
            if type(value) not in _BASIC:
                value = rec[key] = _python(value)
            kind = type(value)
            if kind is float:
                if value != value:
                    rec[key] = None
                elif key in ID_FIELDS:
                    rec[key] = _id(value, key, note, line)
                else:
                    rec[key] = declared_type(key, value)
            elif kind is int and key in ID_FIELDS:
                rec[key] = _id(value, key, note, line)
            elif kind is dict:
                if key in _PARTS:
                    rec[key] = _part(key, value)
                elif key == "prompt":
                    rec[key] = prompt = dict(value)
                    stack.append((prompt, iter(prompt.items())))
                    break  # the prompt's fields before this record's next ones
            elif kind is list and key == "replies":
                rec[key] = replies = [dict(r) if isinstance(r, dict) else r for r in value]
                stack.extend((r, iter(r.items())) for r in reversed(replies) if type(r) is dict)
                break  # every reply's fields, first reply first, before this record's next ones
        else:
            stack.pop()
    return row


def typed_rows(rows: Iterable[dict], source: str, first: int = 1) -> Iterator[Record]:
    """Rows of a typed table as records, numbered from ``first``. Ids that the table held as whole
    numbers are read as strings, with one warning that says how many and where the first was."""
    note = _Converted()
    for number, row in enumerate(rows, start=first):
        yield Record(source, number, b"", typed_row(row, note, number))
    if note.n:
        line, key, value = note.first
        warnings.warn(
            f"{source}: {note.n} id{'s' if note.n > 1 else ''} held as numbers were read as strings "
            f"(the first, row {line}, field {key!r}: {value!r} -> {str(int(value))!r}); an id written "
            "with leading zeros or as a long number may not be the string it was",
            IdsAsNumbersWarning,
            stacklevel=2,
        )


class IdsAsNumbersWarning(UserWarning):
    """A typed table held ids as numbers; they were read as strings."""


def check_columns(columns: Iterable[Any], source: str, rows: int | None) -> None:
    """A typed table (parquet, a DataFrame, a datasets.Dataset) holds an export: the columns of
    flat messages (``message_id``, ``role``, ...) or of trees (``prompt``), and rows (unless
    ``rows`` is None: one shard of several may be empty)."""
    names = [str(c) for c in columns]
    have = set(names)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") or "none"
    if not ({"message_id", "role"} <= have or "prompt" in have):
        missing = " and ".join(c for c in ("message_id", "role") if c not in have)
        raise FormatError(
            f"not an OASST export: no {missing} column (its columns: {shown}); flat messages have "
            "message_id, parent_id, message_tree_id, role, text, ..., nested trees message_tree_id and prompt",
            path=source,
        )
    if rows == 0:
        raise FormatError(f"no rows: an empty table (its columns: {shown})", path=source)


def frame_records(frame: pd.DataFrame, source: str) -> Iterator[Record]:
    """The rows of a pandas DataFrame of flat messages (the hub's columns) or of tree records."""
    check_columns(frame.columns, source, len(frame))
    yield from typed_rows(frame.to_dict(orient="records"), source)


def parquet_records(path: Path, *, first: int = 1, source: str | None = None) -> Iterator[Record | Batch]:
    """The rows of one parquet file (the hub's flat layout); one of several shards (``source`` the
    folder) may be empty. A file in the hub's layout comes as one :class:`~oasst_quality.io.bulk.Batch`
    read column by column; any other layout row by row."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise FormatError(f"unreadable parquet file ({exc})", path=path) from None
    check_columns(table.column_names, str(path), table.num_rows if source is None else None)
    name = source or str(path)

    def row(i: int) -> Record:
        return Record(name, first + i, b"", typed_row(table.slice(i, 1).to_pylist()[0], None, first + i))

    lines = list(range(first, first + table.num_rows))
    batch = from_arrow(table, name, lines, row) if table.num_rows else None
    if batch is None:
        yield from typed_rows(table.to_pylist(), name, first)
    else:
        yield batch


def shards(folder: Path) -> list[Path]:
    """The parquet shards under ``folder`` (the hub's layout), in sorted order; a report written
    by oasst-quality (its flags.parquet beside metrics.json and index.html) is not a shard."""
    found = sorted(folder.rglob("*.parquet"))
    reports = [p for p in found if (p.parent / "metrics.json").is_file() and (p.parent / "index.html").is_file()]
    if reports:
        where = reports[0].parent
        raise FormatError(
            f"holds a report written by oasst-quality ({where / 'index.html'}, metrics.json, "
            f"{reports[0].name}), not an export's parquet shards; give the export the report was made from"
            + ("" if where == folder else ", or move the report out of this folder"),
            path=folder,
        )
    if not found:
        raise FormatError(
            "is a folder without .parquet shards; give an export file (.jsonl, .jsonl.gz or .parquet) "
            "or a folder of the hub's parquet shards",
            path=folder,
        )
    return found


def shard_records(folder: Path) -> Iterator[Record | Batch]:
    """Rows of every parquet shard under ``folder`` (the hub's layout), numbered across them."""
    number = 0
    for shard in shards(folder):
        for item in parquet_records(shard, first=number + 1, source=str(folder)):
            number = item.lines[-1] if isinstance(item, Batch) else item.line
            yield item
    if not number:
        raise FormatError("no rows: every parquet shard is empty", path=folder)
