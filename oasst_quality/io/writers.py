"""Writers: a Dataset back to the forms :func:`oasst_quality.load` reads (trees or messages; JSON
lines, gzip or parquet). Apart from the readers: nothing here reads a file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _json
from ..errors import SchemaError, UsageError
from .records import _python
from .validate import declared_type, record_messages, whole

if TYPE_CHECKING:
    from ..dataset import Dataset


def _plain(value: Any) -> Any:
    """A pandas cell as a JSON-ready Python value: ``records._python``'s value, with a timestamp (in
    an array cell too) as its ISO 8601 string."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    value = _python(value)
    return value.isoformat() if isinstance(value, pd.Timestamp) else value


def _check_tables(dataset: Dataset) -> None:
    """Refuse what the files cannot hold: repeated ids, rows about messages that are not there, a
    label (emoji, Detoxify head) given twice for one message, and columns the loader reads as a tree."""
    ids = dataset.messages["message_id"]
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise UsageError(f"message id {repeated.iloc[0]!r} appears {int((ids == repeated.iloc[0]).sum())} times")
    clash = [c for c in ("prompt", "replies") if c in dataset.messages.columns]
    if clash:
        raise UsageError(f"a messages column named {clash[0]!r} would be read back as a nested tree; rename it")
    known = set(ids)
    for table, key in (("labels", "label"), ("emojis", "emoji"), ("detoxify", "head")):
        frame = getattr(dataset, table)
        if not len(frame):
            continue
        stray = frame.loc[~frame["message_id"].isin(known), "message_id"]
        if len(stray):
            raise UsageError(f"the {table} table names message {stray.iloc[0]!r}, which is not in the messages")
        twice = frame[frame.duplicated(["message_id", key])]
        if len(twice):
            row = twice.iloc[0]
            raise UsageError(
                f"the {table} table gives {key} {row[key]!r} twice for message {row['message_id']!r}; "
                "a file holds one value per message and name"
            )


def message_records(dataset: Dataset, labels_form: str = "hf") -> list[dict]:
    """One dict per message, as the export writes it: labels ``{name: {value, count}}``
    (``labels_form="raw"``) or the hub's parallel arrays (``"hf"``)."""
    msgs = dataset.messages
    out_cols = [c for c in msgs.columns if c != "depth"]
    records = [
        {k: declared_type(k, _plain(v)) for k, v in zip(out_cols, row)}
        for row in msgs[out_cols].itertuples(index=False, name=None)
    ]
    by_id = {r["message_id"]: r for r in records}
    for r in records:
        r["labels"] = None
        r["emojis"] = None
        r["detoxify"] = None
    for mid, group in dataset.labels.groupby("message_id", sort=False):
        names, values = group["label"].tolist(), [_plain(v) for v in group["value"]]
        counts = [whole(_plain(c)) for c in group["count"]]
        if labels_form == "hf":
            by_id[mid]["labels"] = {"name": names, "value": values, "count": counts}
        else:
            by_id[mid]["labels"] = {n: {"value": v, "count": c} for n, v, c in zip(names, values, counts)}
    for mid, group in dataset.emojis.groupby("message_id", sort=False):
        names, counts = group["emoji"].tolist(), [whole(_plain(c)) for c in group["count"]]
        by_id[mid]["emojis"] = {"name": names, "count": counts} if labels_form == "hf" else dict(zip(names, counts))
    for mid, group in dataset.detoxify.groupby("message_id", sort=False):
        by_id[mid]["detoxify"] = dict(zip(group["head"].tolist(), [_plain(v) for v in group["score"]]))
    return records


def _tree_records(records: list[dict]) -> list[dict]:
    """Nest flat records under their parents; tops (roots and orphans) become tree records."""
    by_id = {r["message_id"]: r for r in records}
    for r in records:
        r["replies"] = []
    tops = []
    for r in records:
        parent = by_id.get(r.get("parent_id")) if r.get("parent_id") is not None else None
        # Only nest where the nesting reproduces the same parent and tree on reload.
        if parent is not None and parent.get("message_tree_id") == r.get("message_tree_id") and parent is not r:
            parent["replies"].append(r)
        else:
            tops.append(r)
    return [{"message_tree_id": r.get("message_tree_id"), "tree_state": r.get("tree_state"), "prompt": r} for r in tops]


def _tree_line(tree: dict) -> str:
    """One tree record as JSON; the nested prompt is written without recursion (any depth)."""
    head = json.dumps({k: v for k, v in tree.items() if k != "prompt"}, ensure_ascii=False)
    return head[:-1] + ', "prompt": ' + _json.dumps_tree(tree["prompt"]) + "}"


def _checked(records: list[dict], what: str) -> None:
    """Every record passes the loader's own schema check, so the file written is a file load reads."""
    for record in records:
        try:
            record_messages(record)
        except SchemaError as exc:
            top = record.get("prompt", record)
            where = (
                f"{what} of message {top.get('message_id')!r}"
                if what == "tree"
                else f"message {top.get('message_id')!r}"
            )
            raise UsageError(
                f"{where}, field {exc.field!r}: {exc.detail}; oq.write writes only what oq.load reads back"
            ) from None


def write(dataset: Dataset, path: str | Path, *, form: str = "trees") -> Path:
    """Write ``dataset`` so that :func:`~oasst_quality.load` gives it back equal.

    ``form="trees"`` writes one nested tree per line with labels in the raw export form
    (``{name: {value, count}}``); ``form="messages"`` writes one message per line with labels as
    Hugging Face parallel arrays. The format follows the suffix: ``.jsonl``, ``.jsonl.gz`` or, for
    messages only, ``.parquet``.

    What pandas holds as floats beside NaN (a rank, a count, a true/false field as 1.0/0.0) is
    written as the export's type. What the loader would refuse is refused here, with a
    :class:`~oasst_quality.errors.UsageError` naming the message and field, before anything is
    written: ids that are not strings, a rank of 1.5, a label value outside [0, 1], a label given
    twice, and, in the trees form, messages in a parent cycle.
    """
    path = Path(path)
    if form not in ("trees", "messages"):
        raise UsageError(f"form must be 'trees' or 'messages', got {form!r}")
    if path.suffix == ".parquet" and form != "messages":
        raise UsageError("parquet holds flat messages only (the Hugging Face layout); use form='messages'")
    _check_tables(dataset)
    records = message_records(dataset, "raw" if form == "trees" else "hf")
    if form == "trees" and dataset.messages["depth"].isna().any():
        raise UsageError("messages in a parent cycle cannot be written as trees; use form='messages'")
    if path.suffix == ".parquet":
        _checked(records, "message")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pa.Table.from_pylist(records)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise UsageError(f"a column mixes types parquet cannot hold in one column ({exc}); write .jsonl") from None
        pq.write_table(table, path)
        return path
    if form == "trees":
        trees = _tree_records(records)
        _checked(trees, "tree")
        lines = (_tree_line(t) for t in trees)
    else:
        _checked(records, "message")
        lines = (json.dumps(r, ensure_ascii=False) for r in records)
    try:
        payload = b"".join(line.encode("utf-8") + b"\n" for line in lines)
    except TypeError as exc:  # an extra column holding what JSON cannot (a set, an object)
        raise UsageError(f"a value JSON cannot hold ({exc}); convert that column to text or numbers") from None
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
