"""The table-building stage: a stream of records into a :class:`~oasst_quality.dataset.Dataset`.

:func:`build` validates each :class:`~oasst_quality.io.records.Record` (:mod:`oasst_quality.io.validate`),
sets aside duplicate trees and messages, raises the first located error (or, leniently, keeps every
record it skips, raw, in the problems table) and builds the long tables once.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import PROBLEM_COLUMNS, Dataset
from ..errors import FormatError, SchemaError
from ..schema import MESSAGE_COLUMNS, ROLES
from .records import Record
from .validate import BOOL_FIELDS, INT_FIELDS, Message, record_messages


class _Collector:
    """Validated messages and their source lines; the tables are built from them in one pass."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lines: list[int] = []
        self.files: list[str] = []
        self.sources: set[str] = set()

    def add(self, msgs: list[Message], record: Record) -> None:
        self.messages.extend(msgs)
        self.lines.extend([record.line] * len(msgs))
        self.files.extend([record.source] * len(msgs))
        self.sources.add(record.source)


def build(
    records: Iterable[Record],
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
    col = _Collector()
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

    for record in records:
        n_read += 1
        line = record.line
        try:
            if record.error is not None:
                raise SchemaError(record.error[0], field=record.error[1], kind="parse_error")
            form, msgs, root = record_messages(record.value)
        except SchemaError as exc:
            if not lenient:
                raise record.located(exc.detail, exc.field, exc.kind) from None
            reject(exc.kind, record, exc.detail, exc.field)
            continue
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
                continue
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
            continue
        seen_ids.update(dict.fromkeys(ids, (record.source, line)))
        col.add(msgs, record)
        n_loaded += 1

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


def _long(msgs: list[Message], part: str, width: int) -> tuple[list, ...]:
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
        elif name in BOOL_FIELDS:
            data[name] = pd.array(values, dtype="boolean")
        elif name in INT_FIELDS:
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
