"""The loader's front door: :func:`load` takes a path, a folder of shards or a Hugging Face dataset,
reads it as records (:mod:`oasst_quality.io.records`) and builds the Dataset (:mod:`oasst_quality.io.tables`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from .._util import gc_paused
from ..dataset import Dataset
from ..errors import UsageError
from . import records as rec
from .tables import build

SAMPLE_NAME = "oasst1_en_validation_sample.jsonl.gz"


def sample_path() -> Path:
    """Path of the bundled sample: OASST1's English validation messages (Apache-2.0)."""
    return Path(str(resources.files("oasst_quality") / "data" / SAMPLE_NAME))


def load_sample(*, lenient: bool = False) -> Dataset:
    """Load the sample dataset bundled with the package."""
    return load(sample_path(), lenient=lenient)


def load(path: str | Path | Any, *, lenient: bool = False) -> Dataset:
    """Load an OASST export (trees or messages; ``.jsonl``, ``.jsonl.gz`` or ``.parquet``).

    Parameters
    ----------
    path
        The export file (the form is detected from the content, not the name); a folder of parquet
        shards in the Hugging Face hub's layout (``data/train-*.parquet``, ...; read in sorted
        order, rows numbered across them); a pandas ``DataFrame`` of flat messages with the hub's
        columns (or of tree records), e.g. ``pd.read_json(path, lines=True)``; or a Hugging Face
        ``datasets.Dataset`` or ``DatasetDict`` in the oasst1/oasst2 layout, built any usual way
        (splits in their order; rows numbered across them). A typed table's stand-ins are undone:
        NaN is missing, a boolean stored as 1.0/0.0 is true/false, and ids held as whole numbers
        are read as strings, with an :class:`~oasst_quality.io.records.IdsAsNumbersWarning`.
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
    if isinstance(path, pd.DataFrame):
        name = f"DataFrame({len(path)} rows)"
        with gc_paused():
            return build(rec.frame_records(path, name), name, lenient=lenient)
    if _is_hf(path):
        name = _hf_name(path)
        with gc_paused():
            return build(_hf_records(path, name), name, lenient=lenient)
    if not isinstance(path, str | os.PathLike):
        raise UsageError(_not_loadable(path))
    path = Path(path)
    with gc_paused():
        return build(rec.read(path), str(path), lenient=lenient)


def _not_loadable(obj: Any) -> str:
    kind = type(obj).__name__ if obj is not None else "None"
    hint = ""
    if isinstance(obj, bytes | bytearray):
        hint = " (write the bytes to a file and give its path)"
    elif hasattr(obj, "read"):
        name = getattr(obj, "name", None)
        hint = f" (an open file: give its path{', ' + repr(name) if isinstance(name, str) else ''})"
    elif isinstance(obj, list | tuple):
        hint = " (records in a list: pd.DataFrame(records) loads them; several files go to scale.partition)"
    elif isinstance(obj, pd.Series):
        hint = " (a Series: give the DataFrame)"
    return (
        f"load takes the path of an export file (.jsonl, .jsonl.gz, .parquet) or of a folder of the hub's "
        f"parquet shards, a pandas DataFrame of messages, or a datasets.Dataset or DatasetDict; got {kind}{hint}"
    )


def _is_hf(obj: Any) -> bool:
    """A datasets.Dataset (or DatasetDict) without importing datasets: it has features."""
    if hasattr(obj, "features") and hasattr(obj, "to_list"):
        return True
    return isinstance(obj, dict) and bool(obj) and all(hasattr(v, "features") for v in obj.values())


def _hf_name(obj: Any) -> str:
    if isinstance(obj, dict):
        return "DatasetDict(" + ", ".join(f"{k}: {len(v)} rows" for k, v in obj.items()) + ")"
    return f"Dataset({len(obj)} rows)"


def _hf_records(obj: Any, name: str) -> Iterator[rec.Record]:
    splits = list(obj.values()) if isinstance(obj, dict) else [obj]
    for split in splits:
        rec.check_columns(split.column_names, name, None)
    if not sum(len(split) for split in splits):
        rec.check_columns(splits[0].column_names, name, 0)
    number = 0
    for split in splits:
        for record in rec.typed_rows(split.to_list(), name, first=number + 1):
            number = record.line
            yield record
