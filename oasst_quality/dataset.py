"""The :class:`Dataset`: an OASST export as tables, with its problems and its forest."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .schema import MESSAGE_COLUMNS

if TYPE_CHECKING:
    from .annotations import Annotations

PROBLEM_COLUMNS = ["kind", "message_id", "tree_id", "file", "line", "field", "detail", "raw"]

#: Problem kinds that stand for a whole input record left out of the Dataset.
RECORD_KINDS = ("parse_error", "schema_error", "duplicate_label", "duplicate_tree")


@dataclass(eq=False)
class Dataset:
    """An OASST export held as long tables.

    Attributes
    ----------
    messages
        One row per message (``message_id``, ``parent_id``, ``message_tree_id``, ``role``, ``lang``,
        ``text``, ``user_id``, ``created_date``, ``review_count``, ``review_result``, ``deleted``,
        ``synthetic``, ``rank``, ``model_name``, ``tree_state``, ``depth``, then any extra fields).
        ``depth`` counts the ancestors present in the data (0 for roots and orphans; missing for
        messages caught in a parent cycle).
    labels
        Long table ``message_id, label, value, count``: the export's aggregated label values.
    emojis
        Long table ``message_id, emoji, count``.
    detoxify
        Long table ``message_id, head, score`` of the Detoxify scores the export carries.
    problems
        One row per problem: ``kind, message_id, tree_id, file, line, field, detail, raw``. ``raw``
        holds the input line of a record that was not loaded.
    annotations
        Per-annotator votes and rankings attached with :meth:`with_annotations` (None if none).
    """

    messages: pd.DataFrame
    labels: pd.DataFrame
    emojis: pd.DataFrame
    detoxify: pd.DataFrame
    problems: pd.DataFrame
    source: str | None = None
    form: str = "messages"
    records_read: int = 0
    records_loaded: int = 0
    annotations: Annotations | None = None

    @classmethod
    def from_tables(
        cls,
        messages: pd.DataFrame,
        *,
        labels: pd.DataFrame | None = None,
        emojis: pd.DataFrame | None = None,
        detoxify: pd.DataFrame | None = None,
        problems: pd.DataFrame | None = None,
        lines: np.ndarray | None = None,
        source: str | None = None,
        files: np.ndarray | None = None,
        form: str = "messages",
        records_read: int | None = None,
        records_loaded: int | None = None,
    ) -> Dataset:
        """Build a Dataset from tables, adding ``depth`` and the structural problems.

        ``lines`` (and ``files``, where the messages come from several files, else ``source``) locate
        each message's record, for the structural problems' ``line`` and ``file``.
        """
        from .forest import structure

        messages = messages.reset_index(drop=True)
        depth, structural = structure(messages)
        messages = messages.drop(columns="depth", errors="ignore")
        messages.insert(min(MESSAGE_COLUMNS.index("depth"), messages.shape[1]), "depth", depth)
        if lines is not None and len(structural):
            pos = pd.Index(messages["message_id"]).get_indexer(structural["message_id"])
            structural["line"] = pd.array(np.where(pos >= 0, lines[pos], 0), dtype="Int64").astype(object)
            structural.loc[pos < 0, "line"] = None
            structural["file"] = (
                source if files is None else np.where(pos >= 0, np.asarray(files, dtype=object)[pos], None)
            )
        parts = [p for p in (problems, structural.reindex(columns=PROBLEM_COLUMNS)) if p is not None and len(p)]
        problems = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PROBLEM_COLUMNS)
        n = len(messages)
        return cls(
            messages=messages,
            labels=labels if labels is not None else pd.DataFrame(columns=["message_id", "label", "value", "count"]),
            emojis=emojis if emojis is not None else pd.DataFrame(columns=["message_id", "emoji", "count"]),
            detoxify=detoxify if detoxify is not None else pd.DataFrame(columns=["message_id", "head", "score"]),
            problems=problems,
            source=source,
            form=form,
            records_read=n if records_read is None else records_read,
            records_loaded=n if records_loaded is None else records_loaded,
        )

    def with_annotations(
        self, annotations: Annotations, *, lenient: bool = False, source: str = "annotations"
    ) -> Dataset:
        """This dataset with per-annotator votes and rankings attached, checked against its messages.

        Rows naming an unknown message raise :class:`~oasst_quality.errors.SchemaError`; with
        ``lenient=True`` they are set aside in ``annotations.rejected``. The report and the CLI's
        ``--annotations``/``--rankings`` use what is attached here; ``source`` names their file in errors.
        """
        from .annotations import check_items

        attached = check_items(annotations, self.messages["message_id"], lenient=lenient, source=source)
        if self.annotations is not None:
            attached = self.annotations | attached
        return replace(self, annotations=attached)

    def to_parquet(self, path) -> Path:
        """The messages as one parquet file in the Hugging Face layout (``load`` reads it back equal)."""
        from .io.writers import write

        return write(self, path, form="messages")

    def to_hf(self):
        """The messages as a Hugging Face ``datasets.Dataset`` in the oasst1/oasst2 layout (needs
        the ``datasets`` package; ``load`` takes it back)."""
        try:
            import datasets
        except ImportError:
            raise ImportError("to_hf needs the datasets package: pip install datasets") from None
        from .io.writers import message_records

        return datasets.Dataset.from_list(message_records(self, "hf"))

    @cached_property
    def forest(self):
        """The conversation trees as networkx graphs (:class:`~oasst_quality.forest.Forest`)."""
        from .forest import Forest

        return Forest(self.messages)

    @property
    def rejected(self) -> pd.DataFrame:
        """Input records that were not loaded (lenient mode), with their raw text."""
        return self.problems[
            self.problems["kind"].isin((*RECORD_KINDS, "duplicate_message")) & self.problems["raw"].notna()
        ].reset_index(drop=True)

    def summary(self) -> dict:
        """Source, form, records read and loaded, the forest's stats and the problem counts."""
        return {
            "source": self.source,
            "form": self.form,
            "records_read": self.records_read,
            "records_loaded": self.records_loaded,
            "forest": self.forest.stats().to_dict(),
            "problems": self.problem_counts(),
        }

    def problem_counts(self) -> dict[str, int]:
        """Number of problems of each kind."""
        return {str(k): int(v) for k, v in self.problems["kind"].value_counts().sort_index().items()}

    def label_matrix(self, *, value: str = "value") -> pd.DataFrame:
        """Wide view of the labels: one row per message, one column per label (NaN where absent)."""
        return self.labels.pivot(index="message_id", columns="label", values=value)

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self.messages)} messages in {self.messages['message_tree_id'].nunique()} trees, "
            f"{len(self.labels)} label values, {len(self.problems)} problems, source={self.source!r})"
        )
