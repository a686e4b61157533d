"""Read and write OASST exports.

Every published form loads through :func:`load`, which detects the form from the content:

* nested trees (raw export): one ``{message_tree_id, tree_state, prompt}`` record per line, each
  message with its ``replies``; also bare nested root messages (no wrapper);
* flat messages: raw export dicts (``labels`` as ``{name: {value, count}}``) or the Hugging Face
  form (``labels`` as parallel arrays ``{name: [...], value: [...], count: [...]}``);
* any of the above as ``.jsonl`` or gzip-compressed ``.jsonl.gz``, and parquet in the Hugging Face
  layout.

A record that cannot be read raises :class:`~oasst_quality.errors.SchemaError` naming the file, the
line and the field; with ``lenient=True`` it is skipped and kept, raw, in ``Dataset.problems``.
Structural problems (orphans, cycles, duplicates, rank and role problems) never raise.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson  # 2-3x faster than json on big exports; json stays for error messages.
import pandas as pd

from . import _json
from ._util import gc_paused
from .dataset import PROBLEM_COLUMNS, Dataset
from .errors import FormatError, SchemaError
from .schema import KNOWN_FIELDS, MESSAGE_COLUMNS, ROLES

SAMPLE_NAME = "oasst1_en_validation_sample.jsonl.gz"

_STR_FIELDS = ("parent_id", "lang", "text", "user_id", "created_date", "model_name", "tree_state")
_BOOL_FIELDS = ("review_result", "deleted", "synthetic")
_INT_FIELDS = ("review_count", "rank")


def sample_path() -> Path:
    """Path of the bundled sample: OASST1's English validation messages (Apache-2.0)."""
    return Path(str(resources.files("oasst_quality") / "data" / SAMPLE_NAME))


def load_sample(*, lenient: bool = False) -> Dataset:
    """Load the sample dataset bundled with the package."""
    return load(sample_path(), lenient=lenient)


# --------------------------------------------------------------------------- reading


def _open(path: Path) -> tuple[BinaryIO, bytes]:
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
        fh = gzip.GzipFile(fileobj=fh)  # type: ignore[assignment]
        try:
            magic = fh.read(4)
            fh.seek(0)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FormatError(f"truncated or corrupt gzip stream ({exc})", path=path) from None
    return fh, magic


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
    if number == 1 and stripped in ("{", "["):
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


def _parse(line: bytes, number: int) -> tuple[Any, str | None, str | None]:
    """(object, None, None), or (None, error detail, field) for a line that does not parse."""
    try:
        return orjson.loads(line), None, None
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):  # nested deeper than orjson allows
            try:
                return _json.loads(line.decode("utf-8")), None, None
            except (UnicodeDecodeError, _json.DeepJSONError):
                pass
        return (None, *_diagnose(line, number))


def _iter_json_lines(path: Path, fh: BinaryIO) -> Iterator[tuple[int, bytes, Any, tuple | None]]:
    """Yield (line number, raw line, parsed object or None, (error, field) or None) per non-blank line."""
    number = 0
    first = True
    try:
        for number, line in enumerate(fh, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                line = line[3:]
            if not line.strip():
                continue
            if first and line.lstrip()[:1] == b"[" and line.strip() != b"[":
                raise FormatError(
                    "this is a JSON array; OASST exports are JSON lines (one object per line). "
                    "Convert it with `jq -c '.[]'`",
                    path=path,
                    line=number,
                )
            first = False
            obj, error, field = _parse(line, number)
            yield number, line, obj, (error, field) if error is not None else None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(
            f"truncated or corrupt gzip stream after line {number} ({exc}); re-download or re-compress the file",
            path=path,
        ) from None
    if first:
        raise FormatError("empty file: no records", path=path)


def _iter_parquet_shards(folder: Path) -> Iterator[tuple[int, bytes, Any, tuple | None]]:
    """Rows of every parquet shard under ``folder`` (the hub's layout), numbered across them."""
    shards = sorted(folder.rglob("*.parquet"))
    if not shards:
        raise FormatError(
            "is a folder without .parquet shards; give an export file (.jsonl, .jsonl.gz or .parquet) "
            "or a folder of the hub's parquet shards",
            path=folder,
        )
    number = 0
    for shard in shards:
        for _, blob, row, error in _iter_parquet(shard):
            number += 1
            yield number, blob, row, error


def _typed_row(row: dict) -> dict:
    """A row of a typed table (parquet, a datasets.Dataset) with pandas' stand-ins undone: a
    nullable integer column stored as floats gives back its integers, and NaN means missing."""
    for key, value in row.items():
        if type(value) is float:
            if math.isnan(value):
                row[key] = None
            elif key in _INT_FIELDS and value.is_integer():
                row[key] = int(value)
    return row


def _iter_parquet(path: Path) -> Iterator[tuple[int, bytes, Any, tuple | None]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise FormatError(f"unreadable parquet file ({exc})", path=path) from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield number, b"", _typed_row(row), None


# --------------------------------------------------------------------------- validation

# Exact types (a JSON true is not a count, and 1 is not a string); None means absent.
_NONE = type(None)
_TYPED = {
    **{f: ({str, _NONE}, "a string") for f in _STR_FIELDS},
    "created_date": ({str, _NONE, datetime, pd.Timestamp}, "an ISO 8601 date string"),
    **{f: ({bool, _NONE}, "true/false") for f in _BOOL_FIELDS},
    **{f: ({int, _NONE}, "an integer") for f in _INT_FIELDS},
}
_NUMBER = frozenset({int, float})
_STR = frozenset({str})
_COUNT = frozenset({int, _NONE})


def _fail(detail: str, field: str | None = None) -> SchemaError:
    return SchemaError(detail, field=field)


def _date(value: Any) -> datetime | None:
    """An ISO 8601 string (or a parquet timestamp) as a datetime; checked per record so that
    lenient mode can set aside the one record with a bad date."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)  # Python >= 3.11 reads every ISO 8601 form, "Z" included
    except ValueError:
        raise _fail(f"not an ISO 8601 date: {value!r:.60}", "created_date") from None


def _type_name(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def _check_number(value: Any, field: str) -> float:
    if type(value) not in _NUMBER:
        raise _fail(f"expected a number, got {_type_name(value)}", field)
    return value


def _labels(obj: Any) -> tuple[list, list, list]:
    """Both label forms -> (names, values, counts); values must lie in [0, 1]."""
    if obj is None:
        return [], [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "labels")
    names = obj.get("name")
    if type(names) is list:  # Hugging Face parallel arrays
        values, counts = obj.get("value"), obj.get("count")
        if type(values) is not list or type(counts) is not list or not (len(names) == len(values) == len(counts)):
            raise _fail("parallel arrays name/value/count must be lists of equal length", "labels")
    else:  # raw export: {name: {value, count}}
        names, values, counts = list(obj), [], []
        for name, entry in obj.items():
            if type(entry) is not dict:
                raise _fail(f"expected {{value, count}}, got {entry!r:.60}", f"labels.{name}")
            values.append(entry.get("value"))
            counts.append(entry.get("count"))
    # Fast path: type sets and ranges at C speed; the slow loop below only names the culprit.
    if (
        set(map(type, names)) <= _STR
        and set(map(type, values)) <= _NUMBER
        and set(map(type, counts)) <= _COUNT
        and (not values or (min(values) >= 0.0 and max(values) <= 1.0))
        and all(c is None or c >= 0 for c in counts)
    ):
        return names, values, counts
    for name, value, count in zip(names, values, counts):
        if type(name) is not str:
            raise _fail(f"label name must be a string, got {name!r:.60}", "labels")
        v = _check_number(value, f"labels.{name}.value")
        if not 0.0 <= v <= 1.0:
            raise _fail(f"label value {v} outside [0, 1]", f"labels.{name}.value")
        if count is not None and (type(count) is not int or count < 0):
            raise _fail(f"count must be a non-negative integer, got {count!r:.60}", f"labels.{name}.count")
    raise AssertionError("unreachable")  # pragma: no cover


def _emojis(obj: Any) -> tuple[list, list]:
    if obj is None:
        return [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "emojis")
    names = obj.get("name")
    if type(names) is list:
        counts = obj.get("count")
        if type(counts) is not list or len(counts) != len(names):
            raise _fail("parallel arrays name/count must be lists of equal length", "emojis")
    else:
        names, counts = list(obj), list(obj.values())
    for name, count in zip(names, counts):
        if type(count) is not int or count < 0:
            raise _fail(f"count must be a non-negative integer, got {count!r:.60}", f"emojis.{name}")
    return names, counts


def _detoxify(obj: Any) -> tuple[list, list]:
    if obj is None:
        return [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "detoxify")
    heads, scores = list(obj), list(obj.values())
    if not set(map(type, scores)) <= _NUMBER:
        for head, score in obj.items():
            _check_number(score, f"detoxify.{head}")
    return heads, scores


class _Message:
    """A validated message, ready to be appended to the tables."""

    __slots__ = ("detox", "emojis", "extra", "fields", "id", "labels")

    def __init__(self, fields: dict, extra: dict, labels: tuple, emojis: tuple, detox: tuple) -> None:
        self.fields, self.extra, self.labels, self.emojis, self.detox = fields, extra, labels, emojis, detox
        self.id: str = fields["message_id"]


class _Collector:
    """Validated messages and their source lines; the tables are built from them in one pass."""

    def __init__(self) -> None:
        self.messages: list[_Message] = []
        self.lines: list[int] = []

    def add(self, msgs: list[_Message], line: int) -> None:
        self.messages.extend(msgs)
        self.lines.extend([line] * len(msgs))


def _message(rec: Any, *, tree_id: str | None, tree_state: str | None, parent: str | None, nested: bool) -> _Message:
    if type(rec) is not dict:
        raise _fail(f"a message must be a JSON object, got {type(rec).__name__}")
    mid = rec.get("message_id")
    if type(mid) is not str or not mid:
        raise _fail("missing or empty message id", "message_id")
    get = rec.get
    fields: dict[str, Any] = {f: get(f) for f in _TYPED}
    for f, value in fields.items():
        if type(value) not in _TYPED[f][0]:
            raise _fail(f"expected {_TYPED[f][1]} or null, got {_type_name(value)}", f)
    fields["message_id"] = mid
    fields["created_date"] = _date(rec.get("created_date"))
    if fields["rank"] is not None and fields["rank"] < 0:
        raise _fail(f"rank must be >= 0, got {fields['rank']}", "rank")
    role = get("role")
    if role not in ROLES:
        raise _fail(f"unknown role {role!r:.40}; expected one of {', '.join(ROLES)}", "role")
    fields["role"] = role
    own_tree = get("message_tree_id")
    if own_tree is not None and type(own_tree) is not str:
        raise _fail(f"expected a string or null, got {_type_name(own_tree)}", "message_tree_id")
    if nested:
        if fields["parent_id"] is None:
            fields["parent_id"] = parent
        elif parent is not None and fields["parent_id"] != parent:
            raise _fail(
                f"parent_id {fields['parent_id']!r} differs from the message it is nested under ({parent!r})",
                "parent_id",
            )
        # A nested message whose own tree id contradicts its tree keeps it: forest reports the mismatch.
        fields["message_tree_id"] = own_tree or tree_id
        fields["tree_state"] = fields["tree_state"] or tree_state
    else:
        if own_tree is None:
            raise _fail("missing message tree id", "message_tree_id")
        fields["message_tree_id"] = own_tree
    extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS}
    return _Message(fields, extra, _labels(get("labels")), _emojis(get("emojis")), _detoxify(get("detoxify")))


def _flatten(root: dict, *, tree_id: str | None, tree_state: str | None) -> list[_Message]:
    """Depth-first list of validated messages of a nested tree."""
    out, stack = [], [(root, None)]
    while stack:
        rec, parent = stack.pop()
        msg = _message(rec, tree_id=tree_id, tree_state=tree_state, parent=parent, nested=True)
        out.append(msg)
        replies = rec.get("replies")
        if replies is None:
            continue
        if type(replies) is not list:
            raise _fail(f"expected a list of messages, got {type(replies).__name__}", "replies")
        stack.extend((child, msg.id) for child in reversed(replies))
    return out


def _record(obj: Any) -> tuple[str, list[_Message], str | None]:
    """Validate one JSON line: (form, messages, root id of a tree record)."""
    if type(obj) is not dict:
        raise _fail(f"each line must be a JSON object, got {type(obj).__name__}")
    if "prompt" in obj:
        tree_id = obj.get("message_tree_id")
        if type(tree_id) is not str or not tree_id:
            raise _fail("missing or empty tree id", "message_tree_id")
        state = obj.get("tree_state")
        if state is not None and type(state) is not str:
            raise _fail(f"expected a string or null, got {_type_name(state)}", "tree_state")
        prompt = obj["prompt"]
        if type(prompt) is not dict:
            raise _fail(f"expected the root message object, got {type(prompt).__name__}", "prompt")
        msgs = _flatten(prompt, tree_id=tree_id, tree_state=state)
        # Wrapper fields other than the tree's own (e.g. 'origin') belong to the root message.
        msgs[0].extra.update({k: v for k, v in obj.items() if k not in ("message_tree_id", "tree_state", "prompt")})
        return "trees", msgs, msgs[0].id
    if "replies" in obj:
        msgs = _flatten(obj, tree_id=obj.get("message_tree_id") or obj.get("message_id"), tree_state=None)
        return "trees", msgs, msgs[0].id
    return "messages", [_message(obj, tree_id=None, tree_state=None, parent=None, nested=False)], None


# --------------------------------------------------------------------------- load


def load(path: str | Path | Any, *, lenient: bool = False) -> Dataset:
    """Load an OASST export (trees or messages; ``.jsonl``, ``.jsonl.gz`` or ``.parquet``).

    Parameters
    ----------
    path
        The export file (the form is detected from the content, not the name); a folder of parquet
        shards in the Hugging Face hub's layout (``data/train-*.parquet``, ...; read in sorted
        order, rows numbered across them); or a Hugging Face ``datasets.Dataset`` or
        ``DatasetDict`` in the oasst1/oasst2 layout (splits in their order; rows numbered across them).
    lenient
        If False (default), the first record that cannot be read raises
        :class:`~oasst_quality.errors.SchemaError` with the file, line and field. If True, such
        records are skipped and listed in ``Dataset.problems`` with their raw line, so that
        ``records_loaded + len(dataset.rejected) == records_read``.

    Returns
    -------
    Dataset
        Messages, labels, emojis, detoxify scores, problems and the forest of conversation trees.
    """
    if _is_hf(path):
        with gc_paused():
            return _build(Path(_hf_name(path)), _hf_rows(path), lenient)
    path = Path(path)
    with gc_paused():
        if path.is_dir():
            return _build(path, _iter_parquet_shards(path), lenient)
        return _load(path, lenient)


def _is_hf(obj: Any) -> bool:
    """A datasets.Dataset (or DatasetDict) without importing datasets: it has features."""
    if hasattr(obj, "features") and hasattr(obj, "to_list"):
        return True
    return isinstance(obj, dict) and bool(obj) and all(hasattr(v, "features") for v in obj.values())


def _hf_name(obj: Any) -> str:
    if isinstance(obj, dict):
        return "DatasetDict(" + ", ".join(f"{k}: {len(v)} rows" for k, v in obj.items()) + ")"
    return f"Dataset({len(obj)} rows)"


def _hf_rows(obj: Any) -> Iterator[tuple[int, bytes, Any, tuple | None]]:
    splits = obj.values() if isinstance(obj, dict) else [obj]
    number = 0
    for split in splits:
        for row in split.to_list():
            number += 1
            yield number, b"", _typed_row(row), None


def _load(path: Path, lenient: bool) -> Dataset:
    fh, magic = _open(path)
    with fh:
        if magic == b"PAR1":
            return _build(path, _iter_parquet(path), lenient)
        return _build(path, _iter_json_lines(path, fh), lenient)


def _build(path: Path, records: Iterator, lenient: bool, *, partial: bool = False) -> Dataset:
    """A Dataset from (line, raw line, parsed object or None, (error, field) or None) records.

    ``partial``: the records are one partition of ``path`` (the Dask engine), where reading none
    of them is no error by itself.
    """
    col = _Collector()
    problems: list[dict] = []
    seen_trees: dict[tuple[str, str], int] = {}
    seen_ids: dict[str, int] = {}
    forms: set[str] = set()
    n_read = n_loaded = 0

    def reject(kind: str, line: int, blob: bytes | Any, detail: str, field: str | None = None, **ids) -> None:
        raw_text = (
            blob.rstrip(b"\r\n").decode("utf-8", "replace")
            if isinstance(blob, bytes) and blob
            else json.dumps(blob, default=str)
        )
        problems.append(
            dict(
                kind=kind,
                message_id=ids.get("mid"),
                tree_id=ids.get("tid"),
                file=str(path),
                line=line,
                field=field,
                detail=detail,
                raw=raw_text,
            )
        )

    for line, blob, obj, error in records:
        n_read += 1
        try:
            if error is not None:
                raise SchemaError(error[0], field=error[1], kind="parse_error")
            form, msgs, root = _record(obj)
        except SchemaError as exc:
            if not lenient:
                raise SchemaError(exc.detail, path=path, line=line, field=exc.field, kind=exc.kind) from None
            reject(exc.kind, line, blob or obj, exc.detail, exc.field)
            continue
        forms.add(form)
        tid = msgs[0].fields["message_tree_id"]
        if root is not None:
            first = seen_trees.get((tid, root))
            if first is not None:
                reject(
                    "duplicate_tree",
                    line,
                    blob or obj,
                    f"tree already loaded from line {first}; this copy skipped",
                    mid=root,
                    tid=tid,
                )
                continue
            seen_trees[(tid, root)] = line
        ids = [m.id for m in msgs]
        dup, here = None, set()
        for mid in ids:
            if mid in seen_ids or mid in here:
                dup = mid
                break
            here.add(mid)
        if dup is not None:
            # The whole record is set aside, raw: keeping part of a tree would re-parent its replies.
            first_line = seen_ids.get(dup, line)
            where = f"line {first_line}" if first_line != line else "this same record"
            reject(
                "duplicate_message",
                line,
                blob or obj,
                f"message id {dup!r} already loaded from {where}; this record skipped",
                "message_id",
                mid=dup,
                tid=tid,
            )
            continue
        seen_ids.update(dict.fromkeys(ids, line))
        col.add(msgs, line)
        n_loaded += 1

    if lenient and n_read and not n_loaded and not partial:
        first = problems[0]
        raise FormatError(
            f"no record could be read (first problem, line {first['line']}: {first['detail']})", path=path
        )
    messages, labels, emojis, detox = _tables(col)
    return Dataset.from_tables(
        messages,
        labels=labels,
        emojis=emojis,
        detoxify=detox,
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
        lines=np.asarray(col.lines, dtype=np.int64),
        source=str(path),
        form="+".join(sorted(forms)) or "empty",
        records_read=n_read,
        records_loaded=n_loaded,
    )


def _long(msgs: list[_Message], part: str, width: int) -> tuple[list, ...]:
    """Concatenate one per-message part (labels, emojis, detox) into id + value columns."""
    groups = [getattr(m, part) for m in msgs]
    ids = list(chain.from_iterable([m.id] * len(g[0]) for m, g in zip(msgs, groups)))
    return (ids, *(list(chain.from_iterable(g[k] for g in groups)) for k in range(width)))


def _tables(col: _Collector) -> tuple[pd.DataFrame, ...]:
    msgs = col.messages
    fields = [m.fields for m in msgs]
    dates = pd.to_datetime(pd.Series([f["created_date"] for f in fields], dtype=object), utc=True)
    data: dict[str, Any] = {}
    for name in MESSAGE_COLUMNS:
        if name == "depth":
            continue
        values = [f[name] for f in fields] if name != "created_date" else None
        if name == "created_date":
            data[name] = dates
        elif name in _BOOL_FIELDS:
            data[name] = pd.array(values, dtype="boolean")
        elif name in _INT_FIELDS:
            data[name] = pd.array(values, dtype="Int64")
        elif name == "role":
            data[name] = pd.Categorical(values, categories=list(ROLES))
        else:
            data[name] = pd.Series(values, dtype=object)
    messages = pd.DataFrame(data)
    extra_keys = dict.fromkeys(k for m in msgs for k in m.extra)
    for key in extra_keys:
        messages[key] = pd.Series([m.extra.get(key) for m in msgs], dtype=object)
    mid, name, value, count = _long(msgs, "labels", 3)
    labels = pd.DataFrame(
        {
            "message_id": pd.Series(mid, dtype=object),
            "label": pd.Series(name, dtype=object),
            "value": np.asarray(value, dtype=np.float64),
            "count": pd.array(count, dtype="Int64"),
        }
    )
    mid, name, count = _long(msgs, "emojis", 2)
    emojis = pd.DataFrame(
        {
            "message_id": pd.Series(mid, dtype=object),
            "emoji": pd.Series(name, dtype=object),
            "count": np.asarray(count, dtype=np.int64),
        }
    )
    mid, head, score = _long(msgs, "detox", 2)
    detox = pd.DataFrame(
        {
            "message_id": pd.Series(mid, dtype=object),
            "head": pd.Series(head, dtype=object),
            "score": np.asarray(score, dtype=np.float64),
        }
    )
    return messages, labels, emojis, detox


# --------------------------------------------------------------------------- write


def _plain(value: Any) -> Any:
    """A pandas cell as a JSON-ready Python value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _message_records(dataset: Dataset, labels_form: str) -> list[dict]:
    msgs = dataset.messages
    out_cols = [c for c in msgs.columns if c != "depth"]
    records = [
        {k: _plain(v) for k, v in zip(out_cols, row)} for row in msgs[out_cols].itertuples(index=False, name=None)
    ]
    by_id = {r["message_id"]: r for r in records}
    for r in records:
        r["labels"] = None
        r["emojis"] = None
        r["detoxify"] = None
    for mid, group in dataset.labels.groupby("message_id", sort=False):
        names, values = group["label"].tolist(), group["value"].tolist()
        counts = [_plain(c) for c in group["count"]]
        if labels_form == "hf":
            by_id[mid]["labels"] = {"name": names, "value": values, "count": counts}
        else:
            by_id[mid]["labels"] = {n: {"value": v, "count": c} for n, v, c in zip(names, values, counts)}
    for mid, group in dataset.emojis.groupby("message_id", sort=False):
        names, counts = group["emoji"].tolist(), group["count"].tolist()
        by_id[mid]["emojis"] = {"name": names, "count": counts} if labels_form == "hf" else dict(zip(names, counts))
    for mid, group in dataset.detoxify.groupby("message_id", sort=False):
        by_id[mid]["detoxify"] = dict(zip(group["head"].tolist(), group["score"].tolist()))
    return records


def _tree_records(records: list[dict]) -> list[dict]:
    """Nest flat records under their parents; tops (roots and orphans) become tree records."""
    by_id = {r["message_id"]: r for r in records}
    for r in records:
        r["replies"] = []
    tops = []
    for r in records:
        parent = by_id.get(r["parent_id"]) if r["parent_id"] is not None else None
        # Only nest where the nesting reproduces the same parent and tree on reload.
        if parent is not None and parent["message_tree_id"] == r["message_tree_id"] and parent is not r:
            parent["replies"].append(r)
        else:
            tops.append(r)
    return [{"message_tree_id": r["message_tree_id"], "tree_state": r["tree_state"], "prompt": r} for r in tops]


def _tree_line(tree: dict) -> str:
    """One tree record as JSON; the nested prompt is written without recursion (any depth)."""
    head = json.dumps({k: v for k, v in tree.items() if k != "prompt"}, ensure_ascii=False)
    return head[:-1] + ', "prompt": ' + _json.dumps_tree(tree["prompt"]) + "}"


def write(dataset: Dataset, path: str | Path, *, form: str = "trees") -> Path:
    """Write ``dataset`` so that :func:`load` gives it back equal.

    ``form="trees"`` writes one nested tree per line with labels in the raw export form
    (``{name: {value, count}}``); ``form="messages"`` writes one message per line with labels as
    Hugging Face parallel arrays. The format follows the suffix: ``.jsonl``, ``.jsonl.gz`` or, for
    messages only, ``.parquet``. Messages in a cycle cannot be nested and are refused.
    """
    path = Path(path)
    if form not in ("trees", "messages"):
        raise ValueError(f"form must be 'trees' or 'messages', got {form!r}")
    records = _message_records(dataset, "raw" if form == "trees" else "hf")
    if path.suffix == ".parquet":
        if form != "messages":
            raise ValueError("parquet holds flat messages only (the Hugging Face layout); use form='messages'")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
        return path
    if form == "trees":
        if dataset.messages["depth"].isna().any():
            raise ValueError("messages in a parent cycle cannot be written as trees; use form='messages'")
        lines = (_tree_line(t) for t in _tree_records(records))
    else:
        lines = (json.dumps(r, ensure_ascii=False) for r in records)
    payload = b"".join(line.encode("utf-8") + b"\n" for line in lines)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
