"""The record stream: every input record with its source and line, parsed or with its error located.

Readers here turn files (JSON lines, gzip, parquet, a folder of the hub's parquet shards) into
:class:`Record` values; they never validate the OASST schema (that is :mod:`oasst_quality.io.validate`)
and never build tables (:mod:`oasst_quality.io.tables`). The Dask engine reads through the same
functions, so a record read in a partition is the record :func:`oasst_quality.load` reads.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson  # 2-3x faster than json on big exports; json stays for error messages.

from .. import _json
from ..errors import FormatError, SchemaError
from .validate import INT_FIELDS


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
        fh = gzip.GzipFile(fileobj=fh)  # type: ignore[assignment]
        try:
            magic = fh.read(4)
            fh.seek(0)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FormatError(f"truncated or corrupt gzip stream ({exc})", path=path) from None
    return fh, magic


def read(path: str | Path) -> Iterator[Record]:
    """Every record of an export file (JSON lines, gzip, parquet) or a folder of parquet shards."""
    path = Path(path)
    if path.is_dir():
        yield from shard_records(path)
        return
    fh, magic = open_export(path)
    with fh:
        if magic == b"PAR1":
            yield from parquet_records(path)
        else:
            yield from json_lines(path, fh)


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


def parse_line(raw: bytes, line: int, source: str) -> Record:
    """One JSON line as a :class:`Record` (parsed, or with its error)."""
    value, error = parse(raw, line)
    return Record(source, line, raw, value, error)


def json_lines(path: Path, fh: BinaryIO) -> Iterator[Record]:
    """The records of an open JSON-lines stream, one per non-blank line."""
    source = str(path)
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
            value, error = parse(line, number)
            yield Record(source, number, line, value, error)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(
            f"truncated or corrupt gzip stream after line {number} ({exc}); re-download or re-compress the file",
            path=path,
        ) from None
    if first:
        raise FormatError("empty file: no records", path=path)


# --------------------------------------------------------------------------- typed tables


def typed_row(row: dict) -> dict:
    """A row of a typed table (parquet, a datasets.Dataset) with pandas' stand-ins undone: a
    nullable integer column stored as floats gives back its integers, and NaN means missing."""
    for key, value in row.items():
        if type(value) is float:
            if math.isnan(value):
                row[key] = None
            elif key in INT_FIELDS and value.is_integer():
                row[key] = int(value)
    return row


def typed_rows(rows: Iterable[dict], source: str, first: int = 1) -> Iterator[Record]:
    """Rows of a typed table as records, numbered from ``first``."""
    for number, row in enumerate(rows, start=first):
        yield Record(source, number, b"", typed_row(row))


def parquet_records(path: Path, *, first: int = 1, source: str | None = None) -> Iterator[Record]:
    """The rows of one parquet file (the hub's flat layout)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise FormatError(f"unreadable parquet file ({exc})", path=path) from None
    yield from typed_rows(table.to_pylist(), source or str(path), first)


def shard_records(folder: Path) -> Iterator[Record]:
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
        for record in parquet_records(shard, first=number + 1, source=str(folder)):
            number = record.line
            yield record
