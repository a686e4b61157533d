"""Writers: a Dataset back to the forms :func:`oasst_quality.load` reads (trees or messages; JSON
lines, gzip or parquet). Apart from the readers: nothing here reads a file."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _json

if TYPE_CHECKING:
    from ..dataset import Dataset


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


def message_records(dataset: Dataset, labels_form: str = "hf") -> list[dict]:
    """One dict per message, as the export writes it: labels ``{name: {value, count}}``
    (``labels_form="raw"``) or the hub's parallel arrays (``"hf"``)."""
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
    """Write ``dataset`` so that :func:`~oasst_quality.load` gives it back equal.

    ``form="trees"`` writes one nested tree per line with labels in the raw export form
    (``{name: {value, count}}``); ``form="messages"`` writes one message per line with labels as
    Hugging Face parallel arrays. The format follows the suffix: ``.jsonl``, ``.jsonl.gz`` or, for
    messages only, ``.parquet``. Messages in a cycle cannot be nested and are refused.
    """
    path = Path(path)
    if form not in ("trees", "messages"):
        raise ValueError(f"form must be 'trees' or 'messages', got {form!r}")
    records = message_records(dataset, "raw" if form == "trees" else "hf")
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
