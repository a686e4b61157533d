"""The schema check of many flat messages at once, column by column, at C speed.

A :class:`Batch` holds flat message records as columns: up to :data:`SIZE` JSON lines or rows of a
typed table, a whole parquet file in the hub's layout read column by column, or a chunk of JSON
lines that Arrow's JSON reader read the same way (:func:`read_json`). The checks here accept a row only
where :func:`oasst_quality.io.validate.record_messages` would accept it and give the same values;
every other row (a tree record, a line that did not parse, a wrong type, a value out of range, a
control character in an id, ...) is listed in ``Batch.bad`` and goes through the per-record check,
which locates its error exactly as before. Nothing here raises a schema error itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import KNOWN_FIELDS, MESSAGE_COLUMNS, ROLES
from .validate import _COUNT, _NUMBER, _TYPED, BOOL_FIELDS, INT64_MAX, INT_FIELDS, _detoxify, _emojis, _labels

if TYPE_CHECKING:
    from .records import Record

#: Records per batch: large enough that the per-batch work is small, small enough that a batch's
#: objects are still in the processor's cache when its columns are checked (8192 was 20% slower).
SIZE = 1024

#: The message fields a batch holds as columns (the messages table's, less ``depth``).
FIELDS: tuple[str, ...] = tuple(c for c in MESSAGE_COLUMNS if c != "depth")

_ALLOWED: dict[str, frozenset] = {f: frozenset(types) for f, (types, _) in _TYPED.items()}  # the per-record rule
_ROLES = frozenset(ROLES)
_EMPTY: dict = {}  # stands in for a row the columns do not describe (it is in ``bad``)
_VALUE, _LINE = itemgetter(3), itemgetter(1)  # a Record's value and line
_NAME_VALUE_COUNT = itemgetter("name", "value", "count")

#: A per-message part in long form: offsets (row r's entries are ``[offsets[r], offsets[r + 1])``)
#: and the columns (labels: names, values, counts; emojis: names, counts; Detoxify: heads, scores).
Part = tuple[np.ndarray, ...]


class Batch:
    """Flat messages read together: their checked columns, their parts in long form, and the rows
    (``bad``, ascending) that only the per-record check may judge; ``record(i)`` gives row ``i``
    as a :class:`~oasst_quality.io.records.Record` for it."""

    __slots__ = ("bad", "cols", "detox", "emojis", "extra", "labels", "lines", "record", "rows", "source")

    def __init__(
        self,
        source: str,
        lines: list[int],
        cols: dict[str, Sequence],
        parts: tuple[Part, Part, Part],
        bad: set[int],
        record: Callable[[int], Record],
        *,
        rows: list[dict] | None = None,
        extra: dict[str, Sequence] | None = None,
    ) -> None:
        self.source, self.lines, self.cols, self.record = source, lines, cols, record
        self.labels, self.emojis, self.detox = parts
        self.bad = sorted(bad)
        self.rows, self.extra = rows, extra

    def __len__(self) -> int:
        return len(self.lines)

    def extras(self, i: int, j: int) -> dict[str, list]:
        """The fields outside the schema of rows ``i:j`` (in the order a per-record read finds them)."""
        if self.rows is None:
            return {k: v[i:j] for k, v in self.extra.items()}
        rows = self.rows[i:j]
        keys = [k for k in dict.fromkeys(chain.from_iterable(rows)) if k not in KNOWN_FIELDS]
        return {k: list(map(dict.get, rows, repeat(k))) for k in keys}


def batches(items: Iterable[Record | Batch]) -> Iterator[Batch]:
    """Records grouped into batches of :data:`SIZE` (a batch among them passes through, in its place)."""
    chunk: list[Record] = []
    for item in items:
        if isinstance(item, Batch):
            if chunk:
                yield from_records(chunk)
                chunk = []
            yield item
            continue
        chunk.append(item)
        if len(chunk) == SIZE:
            yield from_records(chunk)
            chunk = []
    if chunk:
        yield from_records(chunk)


def from_records(records: list[Record]) -> Batch:
    """A batch of parsed records; a tree record, a line that did not parse or a value that is not
    an object is a bad row from the start."""
    values = list(map(_VALUE, records))
    lines = list(map(_LINE, records))
    source = records[0].source
    shape = _shape(values)
    rows, bad = None, set()
    if shape is not None:  # every record a flat message with the same fields in the same order
        by_key = dict(zip(shape, zip(*map(dict.values, values))))
        none = (None,) * len(values)
        cols = {f: by_key.get(f, none) for f in FIELDS}
        extra = {k: v for k, v in by_key.items() if k not in KNOWN_FIELDS}
        objs = [by_key.get(k, none) for k in ("labels", "emojis", "detoxify")]
    else:
        rows = []
        for i, value in enumerate(values):
            if type(value) is dict and "prompt" not in value and "replies" not in value:
                rows.append(value)
            else:
                rows.append(_EMPTY)
                bad.add(i)
        if len(bad) == len(records):  # e.g. a file of trees: nothing for the columns to vouch for
            empty = (np.zeros(len(records) + 1, dtype=np.int64), [], [], [])
            return Batch(source, lines, {}, (empty, empty[:3], empty[:3]), bad, records.__getitem__, rows=rows)
        cols = {f: list(map(dict.get, rows, repeat(f))) for f in FIELDS}
        extra = None
        objs = [list(map(dict.get, rows, repeat(k))) for k in ("labels", "emojis", "detoxify")]
    parts = (labels_part(objs[0], bad), emojis_part(objs[1], bad), detox_part(objs[2], bad))
    check(cols, bad)
    return Batch(source, lines, cols, parts, bad, records.__getitem__, rows=rows, extra=extra)


def _shape(values: list) -> tuple[str, ...] | None:
    """The fields of every value, in order, when all are flat message objects with the same fields."""
    if not _types(values) <= {dict}:
        return None
    shapes = set(map(tuple, values))
    if len(shapes) != 1:
        return None
    shape = shapes.pop()
    return None if "prompt" in shape or "replies" in shape else shape


# --------------------------------------------------------------------------- the message fields


def _types(values: Iterable[Any]) -> set[type]:
    return set(map(type, values))


def check(
    cols: dict[str, Sequence], bad: set[int], *, typed: bool = False, printable: frozenset[str] = frozenset()
) -> None:
    """Check the message fields of a batch (flat records); add to ``bad`` every row that the
    per-record check might refuse; ``created_date`` is parsed in place. ``typed``: the columns come
    from Arrow columns of the layout's types (strings, dates, integers and booleans as ``Int64`` and
    ``boolean`` arrays, see :func:`from_arrow`), so no value can be of a type the field refuses.
    ``printable``: the id fields whose every string Arrow found to be printable ASCII."""
    ids = cols["message_id"]
    if not (_types(ids) <= {str} and all(ids) and ("message_id" in printable or all(map(str.isprintable, ids)))):
        bad.update(i for i, v in enumerate(ids) if not (type(v) is str and v and v.isprintable()))
    for field, allowed in () if typed else _ALLOWED.items():
        col = cols[field]
        if not _types(col) <= allowed:
            bad.update(i for i, v in enumerate(col) if type(v) not in allowed)
    for field in ("parent_id", "user_id"):
        col = cols[field]
        try:
            ok = field in printable or all(map(str.isprintable, filter(None, col)))
        except TypeError:  # a value that is not a string: already bad
            ok = False
        if not ok:
            bad.update(i for i, v in enumerate(col) if type(v) is str and not v.isprintable())
    rank = cols["rank"]
    if isinstance(rank, pd.arrays.IntegerArray):
        bad.update(np.flatnonzero(rank.to_numpy(dtype=np.int64, na_value=0) < 0).tolist())
    else:
        ranks = [v for v in rank if type(v) is int]
        if ranks and (min(ranks) < 0 or max(ranks) > INT64_MAX):
            bad.update(i for i, v in enumerate(rank) if type(v) is int and not 0 <= v <= INT64_MAX)
    counts = cols["review_count"]
    if not isinstance(counts, pd.arrays.IntegerArray):
        given = [v for v in counts if type(v) is int]
        if given and (min(given) < -INT64_MAX - 1 or max(given) > INT64_MAX):
            bad.update(i for i, v in enumerate(counts) if type(v) is int and not -INT64_MAX - 1 <= v <= INT64_MAX)
    roles = cols["role"]
    if not (_types(roles) <= {str} and set(roles) <= _ROLES):
        bad.update(i for i, v in enumerate(roles) if not (type(v) is str and v in _ROLES))
    trees = cols["message_tree_id"]
    if not (_types(trees) <= {str} and ("message_tree_id" in printable or all(map(str.isprintable, trees)))):
        bad.update(i for i, v in enumerate(trees) if not (type(v) is str and v.isprintable()))
    cols["created_date"] = _dates(cols["created_date"], bad)


def _dates(col: list, bad: set[int]) -> list:
    """ISO 8601 strings as datetimes (as the per-record check reads them); a row whose date does
    not parse is bad."""
    if _types(col) <= {str}:
        try:
            return list(map(datetime.fromisoformat, col))
        except ValueError:
            pass
    out = []
    for i, value in enumerate(col):
        if type(value) is str:
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                bad.add(i)
                value = None
        out.append(value)
    return out


# --------------------------------------------------------------------------- labels, emojis, Detoxify


def _offsets(lengths: list[int] | np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _per_row(col: list, bad: set[int], check_one: Callable[[Any], tuple], width: int) -> Part:
    """A part read row by row with the per-record check (a row it refuses is bad, with no entries)."""
    lengths, columns = [], [[] for _ in range(width)]
    for i, obj in enumerate(col):
        got = None
        if i not in bad:
            try:
                got = check_one(obj)
            except SchemaError:
                bad.add(i)
        lengths.append(len(got[0]) if got else 0)
        for target, values in zip(columns, got or ()):
            target.extend(values)
    return (_offsets(lengths), *columns)


def _numbers_ok(values: list, low: float, high: float) -> bool:
    """Every value an int or float (never a bool), none NaN, all within [low, high]."""
    if not values:
        return True
    if not _types(values) <= _NUMBER:
        return False
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an integer too large for a float: out of range anyway
        return False
    return bool(array.min() >= low and array.max() <= high)  # NaN fails both


def _forms(col: list) -> tuple[list[int], list[dict], str | None]:
    """(rows with an object, the objects, ``"hf"`` if all hold parallel arrays, ``"raw"`` if none
    does, None if mixed or not all objects)."""
    rows = [i for i, obj in enumerate(col) if obj is not None]
    objs = [col[i] for i in rows]
    if not _types(objs) <= {dict}:
        return rows, objs, None
    kinds = _types(map(dict.get, objs, repeat("name")))
    if kinds == {list}:
        return rows, objs, "hf"
    if list not in kinds:
        return rows, objs, "raw"
    return rows, objs, None


def _spread(n: int, rows: list[int], lengths: list[int]) -> np.ndarray:
    full = np.zeros(n, dtype=np.int64)
    full[rows] = lengths
    return _offsets(full)


def labels_part(col: list, bad: set[int]) -> Part:
    """Labels in long form (names, values, counts) in either form."""
    rows, objs, form = _forms(col)
    if form == "hf":
        try:
            names, values, counts = zip(*map(_NAME_VALUE_COUNT, objs)) if objs else ((), (), ())
        except KeyError:  # a form without its values or counts: row by row
            return _per_row(col, bad, _labels, 3)
        lengths = list(map(len, names))
        if _types(values) <= {list} and _types(counts) <= {list}:
            if lengths == list(map(len, values)) == list(map(len, counts)):
                flat = [
                    _interned(chain.from_iterable(names)),
                    *(list(chain.from_iterable(c)) for c in (values, counts)),
                ]
                if flat[0] is not None and _labels_ok(*flat[1:]) and list(map(len, map(set, names))) == lengths:
                    return (_spread(len(col), rows, lengths), *flat)
    elif form == "raw":
        entries = list(chain.from_iterable(map(dict.values, objs)))
        if _types(entries) <= {dict}:
            flat = [
                _interned(chain.from_iterable(objs)),
                list(map(dict.get, entries, repeat("value"))),
                list(map(dict.get, entries, repeat("count"))),
            ]
            if flat[0] is not None and _labels_ok(*flat[1:]):
                return (_spread(len(col), rows, list(map(len, objs))), *flat)
    return _per_row(col, bad, _labels, 3)


def _interned(names: Iterable[Any]) -> list[str] | None:
    """The label names, each name once in memory (``sys.intern``); None if one is not a ``str``
    (``sys.intern`` takes nothing else, not even a subclass: the interning is the type check)."""
    try:
        return list(map(sys.intern, names))
    except TypeError:
        return None


def _labels_ok(values: list, counts: list) -> bool:
    if not _types(counts) <= _COUNT:
        return False
    given = counts if None not in counts else [c for c in counts if c is not None]
    return (not given or (min(given) >= 0 and max(given) <= INT64_MAX)) and _numbers_ok(values, 0.0, 1.0)


def emojis_part(col: list, bad: set[int]) -> Part:
    """Emojis in long form (names, counts) in either form."""
    rows, objs, form = _forms(col)
    if form == "hf":
        names = list(map(dict.get, objs, repeat("name")))
        counts = list(map(dict.get, objs, repeat("count")))
        lengths = list(map(len, names))
        if _types(counts) <= {list} and lengths == list(map(len, counts)):
            flat = [list(chain.from_iterable(names)), list(chain.from_iterable(counts))]
            if _counts_ok(flat[1]):
                return (_spread(len(col), rows, lengths), *flat)
    elif form == "raw":
        flat = [list(chain.from_iterable(objs)), list(chain.from_iterable(map(dict.values, objs)))]
        if _counts_ok(flat[1]):
            return (_spread(len(col), rows, list(map(len, objs))), *flat)
    return _per_row(col, bad, _emojis, 2)


def _counts_ok(counts: list) -> bool:
    return not counts or (_types(counts) <= {int} and min(counts) >= 0 and max(counts) <= INT64_MAX)


def detox_part(col: list, bad: set[int]) -> Part:
    """Detoxify scores in long form (heads, scores)."""
    rows = [i for i, obj in enumerate(col) if obj is not None]
    objs = [col[i] for i in rows]
    if _types(objs) <= {dict}:
        flat = [list(chain.from_iterable(objs)), list(chain.from_iterable(map(dict.values, objs)))]
        if _numbers_ok(flat[1], 0.0, 1.0):
            return (_spread(len(col), rows, list(map(len, objs))), *flat)
    return _per_row(col, bad, _detoxify, 2)


# --------------------------------------------------------------------------- parquet, column by column

_ARROW_KINDS = {
    **{f: "string" for f in ("message_id", "parent_id", "message_tree_id", "role", "lang", "text", "user_id")},
    **{f: "string" for f in ("model_name", "tree_state")},
    "created_date": "date",
    **{f: "integer" for f in INT_FIELDS},
    **{f: "boolean" for f in BOOL_FIELDS},
}


def _arrow_ok(kind: str, typ: Any) -> bool:
    import pyarrow.types as pt

    if pt.is_null(typ):
        return True
    if kind == "string":
        return pt.is_string(typ) or pt.is_large_string(typ)
    if kind == "date":
        return pt.is_string(typ) or pt.is_large_string(typ) or pt.is_timestamp(typ)
    if kind == "integer":
        return pt.is_integer(typ)
    return pt.is_boolean(typ)


def _list_of(typ: Any, test: Callable[[Any], bool]) -> bool:
    import pyarrow.types as pt

    return (pt.is_list(typ) or pt.is_large_list(typ)) and test(typ.value_type)


def from_arrow(
    table: Any, source: str, lines: list[int], record: Callable[[int], Record], *, json: bool = False
) -> Batch | None:
    """The rows of a parquet file in the hub's layout (numbered ``lines``) as one batch, read column
    by column (no row becomes a dict unless it is bad); None where a column's type is not the
    layout's (the caller then reads the table row by row, as before). ``json``: the table is JSON
    lines read by Arrow (:func:`read_json`), where a null or NaN score, and a label value or score
    that is ``-0.0`` (which Arrow also makes of the integer ``-0``), are for the per-record check."""
    import pyarrow.types as pt

    names = table.column_names
    if "prompt" in names or "replies" in names:
        return None
    if any(f in names and not _arrow_ok(kind, table.schema.field(f).type) for f, kind in _ARROW_KINDS.items()):
        return None
    n = table.num_rows
    part_types = {k: table.schema.field(k).type for k in ("labels", "emojis", "detoxify") if k in names}
    number = lambda t: pt.is_floating(t) or pt.is_integer(t)  # noqa: E731
    string = lambda t: pt.is_string(t) or pt.is_large_string(t)  # noqa: E731
    wanted = {
        "labels": {"name": string, "value": number, "count": pt.is_integer},
        "emojis": {"name": string, "count": pt.is_integer},
    }
    for key, typ in part_types.items():
        if pt.is_null(typ):
            continue
        if not pt.is_struct(typ):
            return None
        fields = {typ.field(i).name: typ.field(i).type for i in range(typ.num_fields)}
        if key == "detoxify":
            if not all(map(pt.is_floating, fields.values())):
                return None
        elif set(fields) != set(wanted[key]) or not all(_list_of(fields[f], t) for f, t in wanted[key].items()):
            return None
    bad: set[int] = set()
    none = [None] * n
    cols = {f: _arrow_column(table.column(f), _ARROW_KINDS[f]) if f in names else none for f in FIELDS}
    extra = {k: _no_nan(table.column(k).to_pylist()) for k in names if k not in KNOWN_FIELDS}
    labels = _arrow_lists(table, "labels", ("name", "value", "count"), bad, json=json)
    emojis = _arrow_lists(table, "emojis", ("name", "count"), bad)
    if labels is None or emojis is None:
        return None
    ids = ("message_id", "parent_id", "user_id", "message_tree_id")
    check(
        cols, bad, typed=True, printable=frozenset(f for f in ids if f in names and _ascii_printable(table.column(f)))
    )
    return Batch(source, lines, cols, (labels, emojis, _arrow_detox(table, bad, json=json)), bad, record, extra=extra)


def _arrow_column(column: Any, kind: str) -> Sequence:
    """A message field's Arrow column as the batch holds it: integers (of a type that fits in
    int64) and booleans straight as the messages table's ``Int64`` and ``boolean`` arrays, a column
    of nulls as Nones, anything else as Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(column.type):
        return [None] * len(column)
    if kind == "boolean":
        return pd.BooleanDtype().__from_arrow__(column)
    if kind == "integer" and column.type != pa.uint64():  # every other integer type fits in int64
        return pd.Int64Dtype().__from_arrow__(pc.cast(column, pa.int64()))
    return column.to_pylist()


def _ascii_printable(column: Any) -> bool:
    """Every byte of an Arrow string column's values is printable ASCII (0x20-0x7e: for ASCII,
    exactly what ``str.isprintable`` accepts); False for a column of another type, or where a null
    slot holds bytes (then only the per-value check says)."""
    import pyarrow.types as pt

    if not (pt.is_string(column.type) or pt.is_large_string(column.type)):
        return False
    width = np.int64 if pt.is_large_string(column.type) else np.int32
    for chunk in column.chunks:
        _, offsets, data = chunk.buffers()
        if data is None or not len(chunk):
            continue
        ends = np.frombuffer(offsets, dtype=width)[[chunk.offset, chunk.offset + len(chunk)]]
        values = np.frombuffer(data, dtype=np.uint8)[ends[0] : ends[1]]
        if len(values) and (values.min() < 0x20 or values.max() > 0x7E):
            return False
    return True


def _no_nan(values: list) -> list:
    """NaN is missing in a typed table (as the row reader has it)."""
    return [None if type(v) is float and v != v else v for v in values]


def _arrow_lists(table: Any, key: str, fields: tuple[str, ...], bad: set[int], *, json: bool = False) -> Part | None:
    """The hub's parallel lists (``{name: [...], value: [...], count: [...]}``) in long form; a row
    whose lists hold a null, a NaN, a value out of range (``json``: or ``-0.0``), a negative count or
    a name twice is bad. None where a row's lists are null or of unequal lengths (the table is then
    read row by row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    width = len(fields)
    column = table.column(key) if key in table.column_names else None
    if column is None or pa.types.is_null(column.type) or not n:
        return (np.zeros(n + 1, dtype=np.int64), *([] for _ in range(width)))
    struct = column.combine_chunks()
    children = dict(zip([struct.type.field(i).name for i in range(struct.type.num_fields)], struct.flatten()))
    lists = [children[f] for f in fields]
    valid = struct.is_valid().to_numpy(zero_copy_only=False)
    lengths = [pc.list_value_length(x).fill_null(0).to_numpy() for x in lists]
    if any(x.null_count != struct.null_count for x in lists) or any((k != lengths[0]).any() for k in lengths):
        return None  # a present struct with a null list, or lists of unequal lengths: row by row
    flat = [x.flatten() for x in lists]
    row = np.repeat(np.arange(n), lengths[0])
    nullable = {"count"} if key == "labels" else set()  # a label's count may be missing, an emoji's not
    for f, name in zip(flat, fields):
        if f.null_count and name not in nullable:
            bad.update(row[f.is_null().to_numpy(zero_copy_only=False)].tolist())
    names = flat[0]
    if "value" in fields:
        values = flat[1].to_numpy(zero_copy_only=False).astype(np.float64)
        refused = ~((values >= 0.0) & (values <= 1.0))  # NaN and nulls fail too
        bad.update(row[refused | np.signbit(values) if json else refused].tolist())
    negative = pc.fill_null(pc.less(flat[-1], 0), False).to_numpy(zero_copy_only=False)
    bad.update(row[negative].tolist())
    encoded = pc.dictionary_encode(pc.fill_null(names, ""))  # a few distinct names (a null's row is bad)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if key == "labels" and len(names):
        bad.update(_twice(row, codes, lengths[0]).tolist())
    offsets = _offsets(np.where(valid, lengths[0], 0))
    distinct = np.array(list(map(sys.intern, encoded.dictionary.to_pylist())), dtype=object)
    if "value" in fields:  # values and counts stay arrays, of the dtypes the labels table holds
        return (offsets, distinct[codes], values, _int64(flat[2]))
    return (offsets, distinct[codes], *(f.to_pylist() for f in flat[1:]))


def _twice(row: np.ndarray, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The rows that name a label twice (``codes``: each entry's name among the distinct names,
    ``row``: its row, ``lengths``: entries per row)."""
    if codes.max() < 32:  # a row's names as bits: their sum is their union unless a name repeats
        bits = np.left_shift(np.int64(1), codes.astype(np.int64))
        rows = np.flatnonzero(lengths)
        starts = _offsets(lengths)[rows]
        return rows[np.add.reduceat(bits, starts) != np.bitwise_or.reduceat(bits, starts)]
    return row[pd.Series(row * (int(codes.max()) + 1) + codes).duplicated().to_numpy()]


def _int64(counts: Any) -> pd.arrays.IntegerArray | list:
    """Arrow int64 counts as the labels table's ``Int64`` (another integer type as Python ints)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if counts.type != pa.int64():
        return counts.to_pylist()
    mask = counts.is_null().to_numpy(zero_copy_only=False)
    return pd.arrays.IntegerArray(pc.fill_null(counts, 0).to_numpy(), mask)


def _arrow_detox(table: Any, bad: set[int], *, json: bool = False) -> Part:
    """Detoxify scores (a struct of heads) in long form: a row's heads in the struct's order, those
    null or NaN left out (as the row reader has it); a score outside [0, 1] makes its row bad, and
    (``json``) so does a null, NaN or ``-0.0`` score of a row that has scores (JSON lines say null
    where the row has the head and nothing where it has not, which Arrow's struct does not tell
    apart)."""
    import pyarrow as pa

    n = table.num_rows
    column = table.column("detoxify") if "detoxify" in table.column_names else None
    if column is None or pa.types.is_null(column.type) or not n or not column.type.num_fields:
        return (np.zeros(n + 1, dtype=np.int64), [], [])
    struct = column.combine_chunks()
    heads = np.array([struct.type.field(i).name for i in range(struct.type.num_fields)], dtype=object)
    scores = np.column_stack([c.to_numpy(zero_copy_only=False).astype(np.float64) for c in struct.flatten()])
    present = ~np.isnan(scores)
    refused = present & ~((scores >= 0.0) & (scores <= 1.0))
    if json:
        has = struct.is_valid().to_numpy(zero_copy_only=False)
        refused |= (has[:, None] & ~present) | np.signbit(scores)
    bad.update(np.flatnonzero(refused.any(axis=1)).tolist())
    rows, cols = np.nonzero(present)
    return (_offsets(present.sum(axis=1)), heads[cols], scores[rows, cols])


# --------------------------------------------------------------------------- JSON lines, through Arrow

#: The fields of a flat message whose Arrow type Arrow's JSON reader is told (not left to guess:
#: ``created_date`` would become a timestamp); ``detoxify`` (a struct of any heads) it infers.
_JSON_TYPES = {"created_date": "string", **{f: kind for f, kind in _ARROW_KINDS.items() if f != "created_date"}}


def _json_options() -> Any:
    import pyarrow as pa
    import pyarrow.json as pj

    scalar = {"string": pa.string(), "integer": pa.int64(), "boolean": pa.bool_()}
    schema = pa.schema(
        [
            *((f, scalar[kind]) for f, kind in _JSON_TYPES.items()),
            (
                "labels",
                pa.struct(
                    [
                        (k, pa.list_(t))
                        for k, t in (("name", pa.string()), ("value", pa.float64()), ("count", pa.int64()))
                    ]
                ),
            ),
            ("emojis", pa.struct([("name", pa.list_(pa.string())), ("count", pa.list_(pa.int64()))])),
        ]
    )
    return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")


#: The most ``{`` and ``[`` a line may hold for Arrow's JSON reader to read it: its parser recurses
#: per level of nesting, and crashes the process (a segmentation fault) near 100,000 levels; a
#: line that holds more (however deep it really is) goes line by line, where orjson refuses depth.
#: Only lines longer than twice this are counted: a line of n bytes nests at most n / 2 deep.
MAX_OPENINGS = 5_000

_CLOSED = (b"}\n", b"}\r\n", b"}")  # a line's end where it closes its object (the last line may lack a newline)


def read_json(raw: list[bytes]) -> Any | None:
    """JSON lines (``raw``) of flat messages in the hub's form as an Arrow table, read by Arrow's
    JSON reader (in C++, on the calling thread), for :func:`from_arrow` (``json=True``) to check;
    None where Arrow cannot stand in for the per-line read: every line must open with ``{`` and
    close with ``}`` (Arrow skips a blank line, reads two objects on one line as two rows and one
    object over two lines as one row, and may crash on a line that is not an object; with every
    line an object's braces, a row is a line, since JSON puts no ``}`` next to a ``{`` inside an
    object), no line may nest deeper than Arrow's parser can (:data:`MAX_OPENINGS`), Arrow must
    read them all, its strings must be UTF-8, and no field may lie outside the schema (its value is
    kept as orjson gives it). Whether every Detoxify object names the same heads in the same order
    is for :func:`detox_in_order` to say, on the thread that checks the table. Anything Arrow reads that
    the per-record check might not (a null, NaN or Infinity, a value out of range, a control
    character in an id, ...) makes its row bad in :func:`from_arrow`, for
    :func:`~oasst_quality.io.validate.record_messages` to judge."""
    import pyarrow as pa
    import pyarrow.json as pj

    if not (all(map(bytes.startswith, raw, repeat(b"{"))) and all(map(bytes.endswith, raw, repeat(_CLOSED)))):
        return None
    long = [line for line in raw if len(line) > 2 * MAX_OPENINGS]  # a shorter line cannot nest that deep
    if any(line.count(b"{") + line.count(b"[") > MAX_OPENINGS for line in long):  # Arrow might overflow its stack
        return None
    try:
        # On the calling thread alone: it runs beside the checks of the chunk before (records.json_batches)
        # and Arrow's own threads would hold more memory than the whole load on main.
        text = b"".join(raw)  # one block for the whole chunk: a line longer than Arrow's blocks (1 MB) is no error
        one_thread = pj.ReadOptions(use_threads=False, block_size=len(text) + 1)
        table = pj.read_json(pa.BufferReader(text), read_options=one_thread, parse_options=_json_options())
        table.validate(full=True)  # Arrow's JSON reader leaves bytes that are not UTF-8 in its strings
        fits = set(table.column_names) <= KNOWN_FIELDS
    except Exception:  # pyarrow raises several unrelated types; the lines then go one by one
        return None
    return table if fits and table.num_rows == len(raw) else None


def detox_in_order(table: Any, raw: Sequence[bytes]) -> bool:
    """Every Detoxify object in the lines ``raw`` (Arrow's ``table`` of them, :func:`read_json`)
    names the struct's heads, all of them, in the struct's order (a row's scores keep its order;
    Arrow's struct would give them in its own): as many lines whose last ``"detoxify"`` begins an
    object of exactly that form (JSON's own spacing or none; values that Arrow read as floats) as
    rows with scores. A ``"detoxify":`` key is only ever a line's own (no other object may hold a
    field outside the schema), and the bytes ``"detoxify"`` inside a string have their quotes
    escaped. A regular expression per line, holding the interpreter's lock: it runs beside Arrow's
    read of the next chunk, not before it."""
    import re

    import pyarrow as pa

    if "detoxify" not in table.column_names:
        return True
    column = table.column("detoxify")
    if not pa.types.is_struct(column.type) or column.type.num_fields < 2:
        return True
    heads = [column.type.field(i).name.encode() for i in range(column.type.num_fields)]
    value = rb": ?[-+.0-9A-Za-z]*"  # a number, null, NaN or Infinity (Arrow read a float)
    form = re.compile(rb'"detoxify": ?\{' + rb", ?".join(b'"' + re.escape(h) + b'"' + value for h in heads) + rb"\}")
    found = sum(map(bool, map(form.match, raw, map(bytes.rfind, raw, repeat(b'"detoxify"')))))
    return found == len(column) - column.null_count
