"""The tables stage: the only analysis-side code that reads a Dataset's OASST columns.

:func:`tables` turns a :class:`~oasst_quality.dataset.Dataset` into the long tables the analyses
take, with generic column names (once per Dataset or partition, by the engine that holds it), so
that an analysis works on any source that can produce them:

=========== =====================================================================================
table       columns
=========== =====================================================================================
messages    ``item, tree, parent, author, role, lang, rank, text``
labels      ``item, label, value, count`` (a published aggregate: the mean of ``count`` votes)
scores      ``item, head, score`` (model scores shipped with the export: Detoxify)
rankings    ``group, tree, annotator, ranking`` (the merged ranks: one ranking per reply set)
problems    ``kind, item, tree, file, line, field, detail, raw`` (the loader's findings)
=========== =====================================================================================

Per-annotator votes and rankings come from :mod:`oasst_quality.annotations` in the same shapes;
:func:`annotations` gives the ones a public export allows. :func:`labels`, :func:`messages`,
:func:`scores` and :func:`rankings` take a Dataset, a :class:`Tables` or the table itself (returned
unchanged), so an analysis called with tables never needs a Dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Union

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .annotations import Annotations
    from .dataset import Dataset

_LABELS = {"message_id": "item"}
_MESSAGES = {
    "message_id": "item",
    "message_tree_id": "tree",
    "parent_id": "parent",
    "user_id": "author",
}
_PROBLEMS = {"message_id": "item", "tree_id": "tree"}
MESSAGE_COLUMNS = ("item", "tree", "parent", "author", "role", "lang", "rank", "text")


@dataclass(frozen=True)
class Tables:
    """A Dataset (or one partition of it) as the long tables every analysis reads."""

    messages: pd.DataFrame
    labels: pd.DataFrame
    scores: pd.DataFrame
    rankings: pd.DataFrame
    problems: pd.DataFrame

    @cached_property
    def label_positions(self) -> dict[str, np.ndarray]:
        """Each label name's row positions in the labels table (ascending), in the order the names
        first appear: the table split by label once (several analyses read it so)."""
        found = self.labels.groupby("label", sort=False).indices
        return {name: found[name] for name in sorted(found, key=lambda name: found[name][0])}

    @cached_property
    def labels_by_name(self) -> dict[str, pd.DataFrame]:
        """The labels table split by label name, once."""
        return {name: self.labels.take(rows) for name, rows in self.label_positions.items()}


#: What an analysis takes: a Dataset, its Tables, or the one table it reads.
Data = Union["Dataset", Tables, pd.DataFrame]


def tables(dataset: Dataset) -> Tables:
    """The Dataset's tables. Build them once and pass them on: an engine keeps them with each
    partition (:mod:`oasst_quality.engine`); a Dataset changed afterwards needs new ones."""
    m = _messages(dataset)
    return Tables(
        messages=m,
        labels=dataset.labels.rename(columns=_LABELS),
        scores=dataset.detoxify.rename(columns=_LABELS),
        rankings=_rankings(m),
        problems=dataset.problems.rename(columns=_PROBLEMS),
    )


def _messages(dataset: Dataset) -> pd.DataFrame:
    return dataset.messages.rename(columns=_MESSAGES).reindex(columns=list(MESSAGE_COLUMNS))


_FROM_DATASET = {
    "messages": _messages,
    "labels": lambda ds: ds.labels.rename(columns=_LABELS),
    "scores": lambda ds: ds.detoxify.rename(columns=_LABELS),
    "rankings": lambda ds: _rankings(_messages(ds)),
}


def _table(data: Data, name: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    return getattr(data, name) if isinstance(data, Tables) else _FROM_DATASET[name](data)


def labels(data: Data) -> pd.DataFrame:
    """The labels table: ``item, label, value, count``."""
    return _table(data, "labels")


def by_label(data: Data) -> dict[str, pd.DataFrame]:
    """The labels table split by label name (a :class:`Tables`' own split, made once, when given one)."""
    if isinstance(data, Tables):
        return data.labels_by_name
    return dict(tuple(labels(data).groupby("label", sort=False)))


def label_positions(data: Data, name: str) -> np.ndarray:
    """The positions in the labels table of one label's rows (from a :class:`Tables`' split by label
    when given one)."""
    if isinstance(data, Tables):
        return data.label_positions.get(name, np.array([], dtype=np.intp))
    return np.flatnonzero(labels(data)["label"].to_numpy(dtype=object) == name)


def label_rows(data: Data, name: str) -> pd.DataFrame:
    """The labels table's rows of one label (from a :class:`Tables`' split by label when given one)."""
    if isinstance(data, Tables):
        return data.labels_by_name.get(name, data.labels.iloc[:0])
    table = labels(data)
    return table[table["label"] == name]


def messages(data: Data) -> pd.DataFrame:
    """The messages table: ``item, tree, parent, author, role, lang, rank, text`` (a column the
    Dataset lacks comes out empty)."""
    return _table(data, "messages")


def scores(data: Data) -> pd.DataFrame:
    """The export's model scores: ``item, head, score``."""
    return _table(data, "scores")


def rankings(data: Data) -> pd.DataFrame:
    """The export's merged ranks as a ranking table.

    One row per reply set with two or more ranked replies: ``group`` (the parent's id), ``tree``,
    ``annotator`` (None: a release carries only the merged consensus) and ``ranking`` (reply ids,
    best first). Unranked siblings are left out.
    """
    return _table(data, "rankings")


def _rankings(m: pd.DataFrame) -> pd.DataFrame:
    ranked = m[m["rank"].notna() & m["parent"].notna()]
    parent, parents = pd.factorize(ranked["parent"].to_numpy(dtype=object), sort=True)
    order = np.lexsort((ranked["rank"].to_numpy(dtype=float), parent))  # by parent, then rank; stable
    parent = parent[order]
    starts = np.flatnonzero(np.r_[len(parent) > 0, parent[1:] != parent[:-1]])
    ends = np.append(starts[1:], len(parent)) if starts.size else starts
    kept = ends - starts >= 2
    starts, ends = starts[kept], ends[kept]
    items = ranked["item"].to_numpy(dtype=object)[order]
    return pd.DataFrame(
        {
            "group": pd.Series(parents[parent[starts]], dtype=object),
            "tree": pd.Series(ranked["tree"].to_numpy(dtype=object)[order][starts], dtype=object),
            "annotator": None,
            "ranking": [tuple(items[a:b]) for a, b in zip(starts, ends)],
        }
    )


def whole_votes(value: np.ndarray, count: np.ndarray, steps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The sum of a message's votes in grid steps, ``value × count × steps``, rounded, and whether it
    is a whole number (to 1e-6): a published mean that is not one cannot come from ``count`` votes
    on the grid. For a 0/1 flag (``steps`` 1) the sum is the number of yes votes."""
    total = np.asarray(value, dtype=float) * np.asarray(count, dtype=float) * steps
    rounded = np.round(total)
    return rounded, np.abs(total - rounded) < 1e-6


def annotations(data: Dataset | Tables) -> Annotations:
    """The per-annotator tables a public export allows: flags expanded exactly, Likert labels as
    aggregates.

    A flag's ``value × count`` is its number of yes votes, so each flag becomes ``count`` single
    votes (annotators unknown: None). A Likert label's mean does not determine its votes, so it
    stays one row with its mean and ``count`` (> 1: not expandable). Rankings are the merged
    consensus ranks, one per reply set, annotator None.
    """
    from .annotations import VOTE_COLUMNS, Annotations
    from .schema import label_kind

    table = labels(data)
    table = table[table["count"].notna() & (table["count"] > 0)]
    count = table["count"].to_numpy(dtype=np.int64)
    yes, whole = whole_votes(table["value"].to_numpy(dtype=float), count)
    flag = table["label"].map(label_kind).eq("flag").to_numpy() & whole
    f = table[flag]
    n_yes = yes[flag].astype(np.int64)
    reps = count[flag]
    expanded = pd.DataFrame(
        {
            "item": np.repeat(f["item"].to_numpy(dtype=object), reps),
            "annotator": None,
            "label": np.repeat(f["label"].to_numpy(dtype=object), reps),
            # within each message: n_yes ones, then zeros
            "value": (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps) < np.repeat(n_yes, reps)).astype(
                float
            ),
            "count": 1,
        }
    )
    kept = table[~flag]
    aggregates = pd.DataFrame(
        {
            "item": kept["item"].to_numpy(dtype=object),
            "annotator": None,
            "label": kept["label"].to_numpy(dtype=object),
            "value": kept["value"].to_numpy(dtype=float),
            "count": kept["count"].to_numpy(dtype=np.int64),
        }
    )
    parts = [x for x in (expanded, aggregates) if len(x)]
    votes = (pd.concat(parts, ignore_index=True) if parts else expanded.iloc[:0]).assign(time=pd.NaT)
    ranks = rankings(data)
    ranking_rows = pd.DataFrame(
        {"group": ranks["group"], "annotator": None, "ranking": ranks["ranking"].map(tuple), "time": pd.NaT}
    )
    return Annotations(votes=votes[list(VOTE_COLUMNS)].reset_index(drop=True), rankings=ranking_rows)
