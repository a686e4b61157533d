"""Read and write OASST exports: files -> records -> tables -> Dataset, and writers apart.

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

The stages, each its own module: :mod:`~oasst_quality.io.records` (the record stream, which the
Dask engine reads too), :mod:`~oasst_quality.io.validate` (one record's schema check),
:mod:`~oasst_quality.io.bulk` (the same check over a batch of flat messages, column by column; JSON
lines of flat messages are read into columns by Arrow's JSON reader, a chunk at a time),
:mod:`~oasst_quality.io.tables` (records into a Dataset), :mod:`~oasst_quality.io.loading`
(:func:`load` and its doors) and :mod:`~oasst_quality.io.writers` (:func:`write`).
"""

from .loading import SAMPLE_NAME, load, load_sample, sample_path
from .records import Record
from .tables import build
from .writers import message_records, write

__all__ = ["SAMPLE_NAME", "Record", "build", "load", "load_sample", "message_records", "sample_path", "write"]
