"""The adapter: the only analysis-side code that reads a Dataset's OASST columns.

It turns a :class:`~oasst_quality.dataset.Dataset` into the long tables the analyses take, with
generic column names, so that an analysis works on any source that can produce them:

=========== =====================================================================================
table       columns
=========== =====================================================================================
labels      ``item, label, value, count`` (a published aggregate: the mean of ``count`` votes)
messages    ``item, tree, parent, author, role, lang, rank, text``
scores      ``item, head, score`` (model scores shipped with the export: Detoxify)
rankings    ``group, tree, annotator, ranking`` (the merged ranks: one ranking per reply set)
=========== =====================================================================================

Per-annotator votes and rankings come from :mod:`oasst_quality.annotations` in the same shapes.
Every function also takes such a table itself and returns it unchanged, so an analysis called
with a table never needs a Dataset.
"""

from __future__ import annotations

import pandas as pd

_LABELS = {"message_id": "item"}
_MESSAGES = {
    "message_id": "item",
    "message_tree_id": "tree",
    "parent_id": "parent",
    "user_id": "author",
}
MESSAGE_COLUMNS = ("item", "tree", "parent", "author", "role", "lang", "rank", "text")


def labels(data) -> pd.DataFrame:
    """The labels table: ``item, label, value, count``."""
    if isinstance(data, pd.DataFrame):
        return data
    return data.labels.rename(columns=_LABELS)


def messages(data) -> pd.DataFrame:
    """The messages table: ``item, tree, parent, author, role, lang, rank, text`` (a column the
    Dataset lacks comes out empty)."""
    if isinstance(data, pd.DataFrame):
        return data
    return data.messages.rename(columns=_MESSAGES).reindex(columns=list(MESSAGE_COLUMNS))


def scores(data) -> pd.DataFrame:
    """The export's model scores: ``item, head, score``."""
    if isinstance(data, pd.DataFrame):
        return data
    return data.detoxify.rename(columns=_LABELS)


def rankings(data) -> pd.DataFrame:
    """The export's merged ranks as a ranking table.

    One row per reply set with two or more ranked replies: ``group`` (the parent's id), ``tree``,
    ``annotator`` (None: a release carries only the merged consensus) and ``ranking`` (reply ids,
    best first). Unranked siblings are left out.
    """
    if isinstance(data, pd.DataFrame):
        return data
    m = messages(data)
    ranked = m[m["rank"].notna() & m["parent"].notna()].sort_values(["parent", "rank"], kind="stable")
    groups = ranked.groupby("parent", sort=False)
    table = pd.DataFrame(
        {
            "group": list(groups.groups),
            "tree": groups["tree"].first().to_numpy(),
            "annotator": None,
            "ranking": [tuple(ids) for ids in groups["item"].agg(list)],
        }
    )
    return table[table["ranking"].map(len) >= 2].reset_index(drop=True)
