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
    """One row per (chosen, rejected) pair implied by the dataset's consensus ranks, from a Dataset
    or its :class:`~oasst_quality.adapter.Tables` (the messages and rankings tables).

    Columns: ``prompt`` (the thread up to the parent), ``chosen``, ``rejected`` (reply texts; left
    out when not ``texts``), ``group`` (the tree id), ``parent``, ``chosen_id``, ``rejected_id``,
    ``rank_chosen``, ``rank_rejected``.
    """
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
