"""The table-building stage: a stream of records into a :class:`~oasst_quality.dataset.Dataset`.

:func:`build` checks the records a batch at a time (:mod:`oasst_quality.io.bulk`), sends the rows a
batch cannot vouch for through the per-record check (:mod:`oasst_quality.io.validate`), sets aside
duplicate trees and messages, raises the first located error (or, leniently, keeps every record it
skips, raw, in the problems table) and appends the messages to the table columns as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import PROBLEM_COLUMNS, Dataset
from ..errors import FormatError, SchemaError
from ..schema import ROLES
from .bulk import FIELDS, Batch, batches
from .records import Record
from .validate import BOOL_FIELDS, INT_FIELDS, Message, record_messages

_ROLE_CODE = {role: code for code, role in enumerate(ROLES)}


class _Chunks:
    """A table's column appended to in runs: a Python list's values, or an array's slice kept as it
    is (a batch's label, emoji and Detoxify message ids from ``np.repeat``; a parquet batch's label,
    emoji and head names, label values, label counts, Detoxify scores and integer and boolean message
    fields, never Python objects per entry); ``convert`` makes a list a column, ``join`` puts the
    columns together."""

    def __init__(self, convert: Callable[[list], Any], join: Callable[[list], Any]) -> None:
        self.convert, self.join = convert, join
        self.chunks: list[Any] = []

    def append(self, value: Any) -> None:
        if self.chunks and type(self.chunks[-1]) is list:
            self.chunks[-1].append(value)
        else:
            self.chunks.append([value])

    def extend(self, values: Iterable[Any]) -> None:
        if isinstance(values, (np.ndarray, pd.api.extensions.ExtensionArray)):
            self.chunks.append(values)
        elif self.chunks and type(self.chunks[-1]) is list:
            self.chunks[-1].extend(values)
        else:
            self.chunks.append(list(values))

    def array(self) -> Any:
        arrays = [self.convert(c) if type(c) is list else c for c in self.chunks] or [self.convert([])]
        return arrays[0] if len(arrays) == 1 else self.join(arrays)


def _floats() -> _Chunks:
    return _Chunks(lambda c: np.asarray(c, dtype=np.float64), np.concatenate)


def _objects() -> _Chunks:
    return _Chunks(lambda c: np.asarray(c, dtype=object), np.concatenate)


def _masked(dtype: str) -> _Chunks:
    """A message field's ``Int64`` or ``boolean`` column (a parquet batch's runs are such arrays already)."""
    return _Chunks(lambda c: pd.array(c, dtype=dtype), lambda arrays: type(arrays[0])._concat_same_type(arrays))


def _counts() -> _Chunks:
    def join(arrays: list) -> pd.arrays.IntegerArray:
        values = np.concatenate([a.to_numpy(dtype=np.int64, na_value=0) for a in arrays])
        return pd.arrays.IntegerArray(values, np.concatenate([a.isna() for a in arrays]))

    return _Chunks(lambda c: pd.array(c, dtype="Int64"), join)


class _Columns:
    """The tables' columns, appended to as messages are accepted (a run of a batch at once, or the
    messages of one record), with each message's file and line."""

    def __init__(self) -> None:
        self.cols: dict[str, Any] = {f: [] for f in FIELDS}
        self.cols.update({f: _masked("Int64") for f in INT_FIELDS})
        self.cols.update({f: _masked("boolean") for f in BOOL_FIELDS})
        self.extra: dict[str, list] = {}
        self.lines: list[int] = []
        self.files: list[str] = []
        self.sources: set[str] = set()
        self.labels: tuple[Any, ...] = (_objects(), _objects(), _floats(), _counts())  # message_id, label, value, count
        self.emojis: tuple[Any, ...] = (_objects(), _objects(), [])  # message_id, emoji, count
        self.detox: tuple[Any, ...] = (_objects(), _objects(), _floats())  # message_id, head, score

    def _add_extra(self, values: dict[str, list], before: int) -> None:
        """Extra fields of rows appended after the first ``before``; a field first seen now is
        missing (None) in the rows before."""
        for key, vals in values.items():
            col = self.extra.setdefault(key, [])
            col.extend(repeat(None, before - len(col)))
            col.extend(vals)

    def add_messages(self, msgs: list[Message], record: Record) -> None:
        for m in msgs:
            self._add_extra({k: [v] for k, v in m.extra.items()}, len(self.lines))
            for f in FIELDS:
                self.cols[f].append(m.fields[f])
            self.lines.append(record.line)
            for target, part in ((self.labels, m.labels), (self.emojis, m.emojis), (self.detox, m.detox)):
                target[0].extend(repeat(m.id, len(part[0])))
                for column, values in zip(target[1:], part):
                    column.extend(values)
        self.files.extend(repeat(record.source, len(msgs)))
        self.sources.add(record.source)

    def add_run(self, batch: Batch, i: int, j: int) -> None:
        self._add_extra(batch.extras(i, j), len(self.lines))
        for f in FIELDS:
            self.cols[f].extend(batch.cols[f][i:j])
        self.lines.extend(batch.lines[i:j])
        ids = np.asarray(batch.cols["message_id"][i:j], dtype=object)
        for target, part in ((self.labels, batch.labels), (self.emojis, batch.emojis), (self.detox, batch.detox)):
            offsets = part[0][i : j + 1]
            target[0].extend(np.repeat(ids, np.diff(offsets)))
            lo, hi = offsets[0], offsets[-1]
            for column, values in zip(target[1:], part[1:]):
                column.extend(values[lo:hi])
        self.files.extend(repeat(batch.source, j - i))
        self.sources.add(batch.source)


def build(
    records: Iterable[Record | Batch],
    source: str,
    *,
    lenient: bool = False,
    partial: bool = False,
    seen: dict[str, tuple[str, int]] | None = None,
) -> Dataset:
    """A Dataset from ``records``, read from ``source`` (one file, or several named by the records).

    ``lenient``: a record that cannot be read is kept, raw, in the problems table instead of
    raising. ``partial``: the records are one partition of ``source`` (the Dask engine), where
    reading none of them is no error by itself. ``seen``: message ids already loaded elsewhere,
    each with the (file, line) it came from; a record holding one is set aside as a
    ``duplicate_message``. The ids loaded here are added to it.
    """
    col = _Columns()
    problems: list[dict] = []
    seen_trees: dict[tuple[str, str], tuple[str, int]] = {}
    seen_ids: dict[str, tuple[str, int]] = {} if seen is None else seen
    forms: set[str] = set()
    n_read = n_loaded = 0

    def reject(kind: str, record: Record, detail: str, field: str | None = None, **ids) -> None:
        problems.append(
            dict(
                kind=kind,
                message_id=ids.get("mid"),
                tree_id=ids.get("tid"),
                file=record.source,
                line=record.line,
                field=field,
                detail=detail,
                raw=record.raw_text(),
            )
        )

    def one(record: Record) -> None:
        """The per-record path: check one record, set it aside or add its messages."""
        nonlocal n_loaded
        line = record.line
        try:
            if record.error is not None:
                raise SchemaError(record.error[0], field=record.error[1], kind="parse_error")
            form, msgs, root = record_messages(record.value)
        except SchemaError as exc:
            if not lenient:
                raise record.located(exc.detail, exc.field, exc.kind) from None
            reject(exc.kind, record, exc.detail, exc.field)
            return
        forms.add(form)
        tid = msgs[0].fields["message_tree_id"]
        if root is not None:
            first = seen_trees.get((tid, root))
            if first is not None:
                reject(
                    "duplicate_tree",
                    record,
                    f"tree already loaded from {_where(first, record)}; this copy skipped",
                    mid=root,
                    tid=tid,
                )
                return
            seen_trees[(tid, root)] = (record.source, line)
        ids = [m.id for m in msgs]
        dup, here = None, set()
        for mid in ids:
            if mid in seen_ids or mid in here:
                dup = mid
                break
            here.add(mid)
        if dup is not None:
            # The whole record is set aside, raw: keeping part of a tree would re-parent its replies.
            first = seen_ids.get(dup)
            where = "this same record" if first is None else _where(first, record)
            reject(
                "duplicate_message",
                record,
                f"message id {dup!r} already loaded from {where}; this record skipped",
                "message_id",
                mid=dup,
                tid=tid,
            )
            return
        seen_ids.update(dict.fromkeys(ids, (record.source, line)))
        col.add_messages(msgs, record)
        n_loaded += 1

    def add(batch: Batch, i: int, j: int) -> None:
        """Rows ``i:j`` of a batch, vouched for and holding no id seen before: added at once."""
        nonlocal n_loaded
        if i < j:
            forms.add("messages")
            seen_ids.update(zip(batch.cols["message_id"][i:j], zip(repeat(batch.source), batch.lines[i:j])))
            col.add_run(batch, i, j)
            n_loaded += j - i

    def run(batch: Batch, i: int, j: int) -> None:
        """Rows ``i:j`` of a batch, all vouched for; a row whose id was loaded before goes through
        the per-record path (which sets it aside), the rows between are added at once."""
        ids = batch.cols["message_id"]
        if len(set(ids[i:j])) == j - i and seen_ids.keys().isdisjoint(ids[i:j]):
            add(batch, i, j)
            return
        here: set[str] = set()
        for k in range(i, j):
            if ids[k] in seen_ids or ids[k] in here:
                add(batch, i, k)
                one(batch.record(k))
                here, i = set(), k + 1
            else:
                here.add(ids[k])
        add(batch, i, j)

    for batch in batches(records):
        n_read += len(batch)
        start = 0
        for stop in (*batch.bad, len(batch)):
            if start < stop:
                run(batch, start, stop)
            if stop < len(batch):
                one(batch.record(stop))
            start = stop + 1
    batch = None  # the last batch holds its file's Arrow table (parquet): let it go before the tables are built

    if lenient and n_read and not n_loaded and not partial:
        first = problems[0]
        raise FormatError(
            f"no record could be read (first problem, line {first['line']}: {first['detail']})", path=source
        )
    messages, labels, emojis, detox = _tables(col)
    return Dataset.from_tables(
        messages,
        labels=labels,
        emojis=emojis,
        detoxify=detox,
        problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
        lines=np.asarray(col.lines, dtype=np.int64),
        source=source,
        files=None if col.sources <= {source} else np.asarray(col.files, dtype=object),
        form="+".join(sorted(forms)) or "empty",
        records_read=n_read,
        records_loaded=n_loaded,
    )


def _where(first: tuple[str, int], record: Record) -> str:
    return f"line {first[1]}" if first[0] == record.source else f"{first[0]} line {first[1]}"


def _tables(col: _Columns) -> tuple[pd.DataFrame, ...]:
    data: dict[str, Any] = {}
    for name, values in col.cols.items():
        if name == "created_date":  # distinct dates, nearly all: a cache of them only costs
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, cache=False)
        elif name in BOOL_FIELDS or name in INT_FIELDS:
            data[name] = values.array()
        elif name == "role":  # every role was checked to be one of ROLES
            codes = np.fromiter(map(_ROLE_CODE.__getitem__, values), dtype=np.int8, count=len(values))
            data[name] = pd.Categorical.from_codes(codes, categories=list(ROLES))
        else:
            data[name] = pd.Series(values, dtype=object)
    n = len(col.lines)
    for key, values in col.extra.items():
        values.extend(repeat(None, n - len(values)))
        data[key] = pd.Series(values, dtype=object)
    messages = _frame(data)
    mid, name, value, count = col.labels
    labels = _frame(
        {
            "message_id": pd.Series(mid.array(), dtype=object, copy=False),
            "label": pd.Series(name.array(), dtype=object, copy=False),
            "value": value.array(),
            "count": count.array(),
        }
    )
    mid, name, count = col.emojis
    emojis = _frame(
        {
            "message_id": pd.Series(mid.array(), dtype=object, copy=False),
            "emoji": pd.Series(name.array(), dtype=object, copy=False),
            "count": np.asarray(count, dtype=np.int64),
        }
    )
    mid, head, score = col.detox
    detox = _frame(
        {
            "message_id": pd.Series(mid.array(), dtype=object, copy=False),
            "head": pd.Series(head.array(), dtype=object, copy=False),
            "score": score.array(),
        }
    )
    return messages, labels, emojis, detox


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A table of these columns as they are, each its own block (``pd.DataFrame`` of a dict copies
    the columns of one dtype into a single block: every object column of a million-row table)."""
    return pd.concat({name: pd.Series(values, copy=False) for name, values in columns.items()}, axis=1)
