"""Preference pairs from a Dataset, and a train/test split that keeps every tree on one side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import adapter
from ..consensus import preference_pairs
from ..errors import UsageError


def _thread_text(messages: pd.DataFrame, parent_ids: pd.Series, max_chars: int) -> list[str]:
    """The conversation up to (and including) each parent, oldest first, as 'role: text' lines."""
    by_id = messages.set_index("item")
    parent_of, role, text = by_id["parent"].to_dict(), by_id["role"].astype(str).to_dict(), by_id["text"].to_dict()
    out = []
    for pid in parent_ids:
        turns, node = [], pid
        while node is not None and node in text and len(turns) < 50:
            turns.append(f"{role[node]}: {text[node] or ''}")
            node = parent_of.get(node)
        out.append("\n".join(reversed(turns))[-max_chars:])
    return out


def preference_data(dataset, *, max_prompt_chars: int = 2000, texts: bool = True) -> pd.DataFrame:
    """One row per (chosen, rejected) pair implied by the dataset's consensus ranks, from a Dataset,
    its :class:`~oasst_quality.adapter.Tables` (the messages and rankings tables), or an engine of
    partitions (:mod:`oasst_quality.engine`; each partition's pairs, in the one Dataset's order).

    Columns: ``prompt`` (the thread up to the parent), ``chosen``, ``rejected`` (reply texts; left
    out when not ``texts``), ``group`` (the tree id), ``parent``, ``chosen_id``, ``rejected_id``,
    ``rank_chosen``, ``rank_rejected``.
    """
    if hasattr(dataset, "map_reduce"):
        pairs = joined(dataset.map_reduce(_partition_pairs))
        pairs = pairs.iloc[dataset_order(pairs["parent"])].reset_index(drop=True)
        return with_texts(dataset, pairs, max_prompt_chars=max_prompt_chars) if texts else pairs
    pairs = preference_pairs(adapter.rankings(dataset))
    written = {}
    if texts:
        messages = adapter.messages(dataset)
        text = messages.set_index("item")["text"]
        written = {
            "prompt": _thread_text(messages, pairs["group"], max_prompt_chars),
            "chosen": text.reindex(pairs["chosen"]).fillna("").to_numpy(),
            "rejected": text.reindex(pairs["rejected"]).fillna("").to_numpy(),
        }
    return pd.DataFrame(
        written
        | {
            "group": pairs["tree"].to_numpy(),
            "parent": pairs["group"].to_numpy(),
            "chosen_id": pairs["chosen"].to_numpy(),
            "rejected_id": pairs["rejected"].to_numpy(),
            "rank_chosen": pairs["rank_chosen"].to_numpy(),
            "rank_rejected": pairs["rank_rejected"].to_numpy(),
        }
    )


def _partition_pairs(ds, t: adapter.Tables) -> list[pd.DataFrame]:
    """One partition's pairs, without texts."""
    return [preference_data(t, texts=False)]


def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' pairs one after the other, numbered 0, 1, ...: a partition without any left out
    (its empty columns have no dtype to keep), unless all are empty."""
    full = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(full, ignore_index=True)


def dataset_order(parent: pd.Series) -> np.ndarray:
    """The order in which one Dataset lists the pairs of several partitions given one after the
    other: by parent id (a Dataset's ranked reply sets are sorted so), each set's pairs in their
    partition's order (partitions hold whole trees)."""
    return np.argsort(pd.factorize(parent.to_numpy(dtype=object), sort=True)[0], kind="stable")


def _partition_texts(ds, t: adapter.Tables, parents: list, replies: list, max_prompt_chars: int) -> list[tuple]:
    """The threads up to the partition's ``parents`` and the texts of its ``replies``, by id."""
    messages = t.messages
    wanted = pd.Index(parents)
    here = wanted[wanted.isin(messages["item"])]
    text = messages.set_index("item")["text"]
    prompts = pd.Series(_thread_text(messages, pd.Series(here, dtype=object), max_prompt_chars), index=here)
    return [(prompts, text[text.index.isin(replies)])]


def with_texts(engine, pairs: pd.DataFrame, *, max_prompt_chars: int = 2000) -> pd.DataFrame:
    """``pairs`` (ids, from :func:`preference_data` with ``texts=False``) with their ``prompt``,
    ``chosen`` and ``rejected`` texts, each partition of ``engine`` giving those of its messages:
    the columns :func:`preference_data` gives, for these rows only."""
    replies = pd.unique(np.r_[pairs["chosen_id"].to_numpy(dtype=object), pairs["rejected_id"].to_numpy(dtype=object)])
    found = engine.map_reduce(_partition_texts, pairs["parent"].unique().tolist(), list(replies), max_prompt_chars)
    prompts = pd.concat([p for p, _ in found])
    text = pd.concat([x for _, x in found])
    written = {
        "prompt": prompts.reindex(pairs["parent"]).fillna("").to_numpy(dtype=object),
        "chosen": text.reindex(pairs["chosen_id"]).fillna("").to_numpy(),
        "rejected": text.reindex(pairs["rejected_id"]).fillna("").to_numpy(),
    }
    return pd.DataFrame(written | {c: pairs[c].to_numpy() for c in pairs.columns if c not in written})


def split_by_group(
    pairs: pd.DataFrame, *, test_size: float = 0.2, seed: int = 0, group: str = "group"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split pairs into train and test so that no group (tree) is on both sides."""
    groups = pairs[group].unique()
    rng = np.random.default_rng(seed)
    test_groups = set(rng.choice(groups, size=max(1, round(test_size * len(groups))), replace=False))
    is_test = pairs[group].isin(test_groups)
    return pairs[~is_test].reset_index(drop=True), pairs[is_test].reset_index(drop=True)


def planted_pairs(texts, n: int, *, seed: int = 0, pairs_per_group: int = 4) -> pd.DataFrame:
    """``n`` pairs with a planted, learnable difference, made from real texts.

    The chosen reply is a real text; the rejected one is the same text with its words shuffled, so
    the two share length and vocabulary and differ only in being language. The prompt is another
    text. A reward model that reads can learn this; one that cannot stays at 1/2. For throughput
    benchmarks and pipeline checks at any scale; not a measure of preference learning.
    """
    texts = [t for t in texts if isinstance(t, str) and len(t.split()) >= 4]
    if len(texts) < 2:
        raise UsageError("planted_pairs needs at least two texts of four or more words")
    rng = np.random.default_rng(seed)
    reply = rng.integers(0, len(texts), n)
    prompt = (reply + rng.integers(1, len(texts), n)) % len(texts)
    chosen = [texts[i] for i in reply]
    rejected = []
    for t in chosen:
        words = t.split()
        rejected.append(" ".join(words[i] for i in rng.permutation(len(words))))
    group = [f"planted-{i // pairs_per_group}" for i in range(n)]
    return pd.DataFrame(
        {
            "prompt": [texts[i] for i in prompt],
            "chosen": chosen,
            "rejected": rejected,
            "group": group,
            "parent": group,
            "chosen_id": [f"c{i}" for i in range(n)],
            "rejected_id": [f"r{i}" for i in range(n)],
            "rank_chosen": 0,
            "rank_rejected": 1,
        }
    )
