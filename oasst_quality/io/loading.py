"""The loader's front door: :func:`load` takes a path, a folder of shards or a Hugging Face dataset,
reads it as records (:mod:`oasst_quality.io.records`) and builds the Dataset (:mod:`oasst_quality.io.tables`)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from .._util import gc_paused
from ..dataset import Dataset
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
        name = _hf_name(path)
        with gc_paused():
            return build(_hf_records(path, name), name, lenient=lenient)
    path = Path(path)
    with gc_paused():
        return build(rec.read(path), str(path), lenient=lenient)


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
    splits = obj.values() if isinstance(obj, dict) else [obj]
    number = 0
    for split in splits:
        for record in rec.typed_rows(split.to_list(), name, first=number + 1):
            number = record.line
            yield record
