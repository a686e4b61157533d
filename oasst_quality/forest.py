"""Conversation trees as networkx graphs, and the structural checks of an OASST export.

The checks and statistics run vectorized over the flat message table (parent pointers as integer
arrays); a tree's :class:`networkx.DiGraph` is built when it is first asked for (networkx is
imported then, not with the package).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._util import gc_paused

if TYPE_CHECKING:
    import networkx as nx


def _parent_index(messages: pd.DataFrame) -> np.ndarray:
    """Row of each message's parent, -1 for roots and orphans."""
    ids = pd.Index(messages["message_id"])
    parents = messages["parent_id"]
    pos = ids.get_indexer(parents.where(parents.notna(), None))
    return np.where(parents.notna().to_numpy(), pos, -1)


def _depths(parent: np.ndarray) -> np.ndarray:
    """Depth below the topmost ancestor present; -1 for messages in or under a parent cycle.

    Pointer jumping: each round every message adds its ancestor's distance and jumps to that
    ancestor's ancestor, so a chain of any length resolves in log2(n) vectorized rounds (a
    100,000-message chain in 17). Whatever still points somewhere after that is on or under a cycle.
    """
    anc = parent.copy()
    dist = (parent >= 0).astype(np.int64)
    for _ in range(max(int(np.ceil(np.log2(max(parent.size, 2)))) + 1, 1)):
        active = np.flatnonzero(anc >= 0)
        if not active.size:
            break
        up = anc[active]
        dist[active] += dist[up]
        anc[active] = anc[up]
    return np.where(anc >= 0, -1, dist)


def _on_cycles(parent: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` (every message in or under a parent cycle) lie on a cycle.

    Following parents ``len(rows)`` times from any of them ends on a cycle, and every message on a
    cycle is reached so (a cycle maps onto itself): the cycles are the image of that jump, taken
    by doubling (``log2(len(rows))`` vectorized rounds).
    """
    anc = parent.copy()
    steps = 1
    while steps < rows.size:
        anc[rows] = anc[anc[rows]]
        steps *= 2
    return np.isin(rows, anc[rows])


def _problem(kind: str, rows: pd.DataFrame, detail: pd.Series | str, field: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": kind,
            "message_id": rows["message_id"].to_numpy(dtype=object),
            "tree_id": rows["message_tree_id"].to_numpy(dtype=object),
            "field": field,
            "detail": detail if isinstance(detail, str) else detail.to_numpy(dtype=object),
        }
    )


def structure(messages: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Depth of every message and the structural problems of the forest.

    Problem kinds: ``orphan``, ``cycle``, ``multiple_roots``, ``role_alternation``,
    ``tree_id_mismatch``, ``rank_on_prompter``, ``rank_collision`` and ``rank_gap``.
    """
    parent = _parent_index(messages)
    depth = _depths(parent)
    out = []
    # Only the columns the checks read: every row selection below then takes five columns, not all.
    m = pd.DataFrame(
        {c: messages[c] for c in ("message_id", "parent_id", "message_tree_id", "role", "rank")}, copy=False
    )
    has_pid = m["parent_id"].notna().to_numpy()

    orphan = has_pid & (parent < 0)
    out.append(
        _problem(
            "orphan", m[orphan], "parent " + m.loc[orphan, "parent_id"].astype(str) + " is not in the data", "parent_id"
        )
    )

    in_cycle = depth < 0
    if in_cycle.any():
        details = np.where(
            _on_cycles(parent, np.flatnonzero(in_cycle)),
            "message is on a parent cycle",
            "message descends from a parent cycle",
        )
        out.append(_problem("cycle", m[in_cycle], pd.Series(details), "parent_id"))

    roots = m[~has_pid]
    tree = roots["message_tree_id"]
    multi = roots[(tree.duplicated(keep=False) & tree.notna()).to_numpy()]  # a missing tree id is no group
    out.append(_problem("multiple_roots", multi, "tree has more than one root message", "parent_id"))

    linked = np.flatnonzero(parent >= 0)
    pl = parent[linked]
    roles = m["role"].to_numpy(dtype=object)
    same_role = linked[roles[linked] == roles[pl]]
    out.append(
        _problem(
            "role_alternation",
            m.iloc[same_role],
            "reply has the same role as its parent (" + m["role"].iloc[same_role].astype(str) + ")",
            "role",
        )
    )
    trees = m["message_tree_id"].to_numpy(dtype=object)
    mismatch = linked[trees[linked] != trees[pl]]
    out.append(
        _problem(
            "tree_id_mismatch",
            m.iloc[mismatch],
            "tree id differs from its parent's (" + pd.Series(trees[parent[mismatch]]).astype(str) + ")",
            "message_tree_id",
        )
    )

    ranked = m[m["rank"].notna()]
    on_prompter = ranked[ranked["role"] == "prompter"]
    out.append(_problem("rank_on_prompter", on_prompter, "rank set on a prompter message", "rank"))
    collide = ranked[ranked.duplicated(["parent_id", "rank"], keep=False)]
    out.append(_problem("rank_collision", collide, "siblings share rank " + collide["rank"].astype(str), "rank"))
    g = ranked.groupby("parent_id", sort=False, dropna=False)["rank"]
    size, low, high, distinct = g.transform("size"), g.transform("min"), g.transform("max"), g.transform("nunique")
    gap = ranked[((low != 0) | (high != size - 1)) & (distinct == size)]
    out.append(
        _problem("rank_gap", gap, "sibling ranks are not 0..k-1 (max " + high[gap.index].astype(str) + ")", "rank")
    )

    problems = (
        pd.concat([p for p in out if len(p)], ignore_index=True)
        if any(len(p) for p in out)
        else (pd.DataFrame(columns=["kind", "message_id", "tree_id", "field", "detail"]))
    )
    return pd.Series(depth, dtype="Int64").where(depth >= 0), problems


@dataclass(frozen=True)
class ForestStats:
    """Summary of a forest's shape."""

    n_trees: int
    n_messages: int
    n_leaves: int
    n_threads: int
    max_depth: int
    by_role: dict[str, int]
    by_lang: dict[str, int]
    by_tree_state: dict[str, int]
    depth_counts: dict[int, int]
    branching_counts: dict[int, int]
    n_sibling_groups: int
    n_ranked_sibling_groups: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Forest:
    """The trees of a dataset: ``len(forest)``, ``forest[tree_id]`` (a DiGraph), iteration over ids.

    Edges point from parent to child; every message field is a node attribute. Messages whose
    parent is missing (orphans) are the tops of their own component inside their tree's graph.
    """

    def __init__(self, messages: pd.DataFrame) -> None:
        self._messages = messages
        self._parent = _parent_index(messages)
        self._ids = messages["message_id"].tolist()
        codes, tree_ids = pd.factorize(messages["message_tree_id"])
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(tree_ids)))[:-1]
        self._tree_ids = list(tree_ids)
        self._rows = dict(zip(self._tree_ids, np.split(order, bounds)))
        self._cache: dict[str, nx.DiGraph] = {}
        self._attrs: list[dict] | None = None

    def __len__(self) -> int:
        return len(self._tree_ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tree_ids)

    def __contains__(self, tree_id: object) -> bool:
        return tree_id in self._rows

    def __getitem__(self, tree_id: str) -> nx.DiGraph:
        graph = self._cache.get(tree_id)
        if graph is None:
            rows = self._rows[tree_id]
            graph = self._build(rows)
            self._cache[tree_id] = graph
        return graph

    def _node_attrs(self) -> list[dict]:
        # One pass over the columns for all trees: per-tree pandas calls would dominate.
        if self._attrs is None:
            m = self._messages
            names = m.columns.tolist()  # a plain list: iterating a pandas Index per row is slow
            columns = [m[c].to_numpy(dtype=object, na_value=None).tolist() for c in names]
            self._attrs = [dict(zip(names, row)) for row in zip(*columns)]
        return self._attrs

    def _build(self, rows: np.ndarray) -> nx.DiGraph:
        import networkx as nx

        attrs = self._node_attrs()
        ids = self._ids
        graph = nx.DiGraph()
        graph.add_nodes_from((ids[i], attrs[i]) for i in rows)
        parents = self._parent[rows]
        linked = parents >= 0
        graph.add_edges_from(zip([ids[p] for p in parents[linked].tolist()], [ids[i] for i in rows[linked].tolist()]))
        return graph

    def graphs(self) -> Iterator[tuple[str, nx.DiGraph]]:
        """Every (tree id, graph), building the graphs not yet built."""
        with gc_paused():
            self._node_attrs()
            for tree_id in self._tree_ids:
                self[tree_id]
        for tree_id in self._tree_ids:
            yield tree_id, self._cache[tree_id]

    def threads(self) -> list[list[str]]:
        """Root-to-leaf paths of message ids (a root or orphan without replies is a thread of one)."""
        parent = self._parent
        ids = self._messages["message_id"].to_numpy(dtype=object)
        has_child = np.zeros(parent.size, dtype=bool)
        has_child[parent[parent >= 0]] = True
        depth = self._messages["depth"].to_numpy(dtype="float64", na_value=np.nan)
        leaves = np.flatnonzero(~has_child & ~np.isnan(depth))
        # Walk all leaves up at once, one level per step; -1 marks a thread that already ended.
        levels = []
        cur = leaves
        while (cur >= 0).any():
            levels.append(cur)
            up = np.full_like(cur, -1)
            alive = cur >= 0
            up[alive] = parent[cur[alive]]
            cur = up
        if not levels:
            return []
        stacked = np.vstack(levels)[::-1]
        return [[ids[i] for i in col if i >= 0] for col in stacked.T]

    def sibling_groups(self) -> pd.DataFrame:
        """One row per parent with two or more replies: parent, tree, children, their ranks."""
        parent = self._parent
        n_children = np.bincount(parent[parent >= 0], minlength=parent.size)
        rows = np.flatnonzero((parent >= 0) & (n_children[np.maximum(parent, 0)] >= 2))
        rows = rows[np.argsort(parent[rows], kind="stable")]
        parents, starts = np.unique(parent[rows], return_index=True)
        m = self._messages
        ids = m["message_id"].to_numpy(dtype=object)
        ranks = m["rank"].to_numpy(dtype=object, na_value=None)
        children = np.split(rows, starts[1:])
        n_ranked = np.add.reduceat(m["rank"].notna().to_numpy()[rows], starts) if rows.size else []
        return pd.DataFrame(
            {
                "parent": ids[parents],
                "tree_id": m["message_tree_id"].to_numpy(dtype=object)[parents],
                "children": [tuple(ids[c]) for c in children] if rows.size else [],
                "ranks": [tuple(ranks[c]) for c in children] if rows.size else [],
                "n_children": n_children[parents],
                "n_ranked": n_ranked,
            }
        )

    def stats(self) -> ForestStats:
        """Trees, messages by role/language/state, depth and branching distributions, leaves, threads."""
        m = self._messages
        parent = self._parent
        n_children = np.bincount(parent[parent >= 0], minlength=len(m))
        depth = m["depth"].dropna().astype(int)
        groups = self.sibling_groups()

        def counts(series: pd.Series) -> dict:
            return {str(k): int(v) for k, v in series.value_counts(dropna=False).sort_index().items()}

        leaves = int(((n_children == 0) & m["depth"].notna().to_numpy()).sum())
        return ForestStats(
            n_trees=len(self),
            n_messages=len(m),
            n_leaves=leaves,
            n_threads=leaves,
            max_depth=int(depth.max()) if len(depth) else 0,
            by_role=counts(m["role"].astype(object)),
            by_lang=counts(m["lang"].fillna("unknown")),
            by_tree_state=counts(m["tree_state"].fillna("unknown")),
            depth_counts={int(k): int(v) for k, v in depth.value_counts().sort_index().items()},
            branching_counts={
                int(k): int(v) for k, v in pd.Series(n_children[n_children > 0]).value_counts().sort_index().items()
            },
            n_sibling_groups=len(groups),
            n_ranked_sibling_groups=int((groups["n_ranked"] >= 2).sum()),
        )
