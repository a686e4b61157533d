"""Planted crowds whose bad annotators are known: votes and rankings, seeded, for tests and benchmarks.

``votes(...)``: ``n_items`` items with a true class drawn uniformly from ``k`` classes; honest
annotators answer the truth with probability ``accuracy``, else another class (uniformly on a
nominal scale, one step away on an ordered one, ``ordered=True``); each honest annotator answers
about ``votes_per_honest`` items (Poisson), each planted one exactly ``votes_per_bad``:
``spam`` uniformly at random, ``constant`` always the middle class, ``reversed`` the mirrored
honest answer (K − 1 − the honest answer).

``ratings(...)``: a continuous label on 0..100 (integers, as Snow et al.'s affect ratings): item
values μ ~ N(50, 20²); an honest rater gives μ + own bias (N(0, 5²)) + noise (N(0, ``noise``²)),
clipped to 0..100; ``noisy`` raters the same with ``NOISY_FACTOR`` times the noise SD, ``random``
uniform on 0..100, ``reversed`` 100 minus an honest rating, ``compressed`` an honest rating pulled
to a third of its distance from 50, ``constant`` always 50.

``rankings(...)``: reply sets of ``k`` replies with a true order; honest rankers give a Mallows-like
noisy order (each adjacent pair swapped with probability ``swap`` in ``passes`` bubble passes),
``chance`` rankers a random order, ``reversed`` the honest order reversed, ``copier`` the displayed
(random) order. Reply ids are random strings, so nothing depends on how ids sort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def votes(
    *,
    n_honest: int = 200,
    votes_per_honest: float = 20,
    accuracy: float = 0.75,
    bad: dict[str, int] | None = None,
    votes_per_bad: int = 50,
    k: int = 2,
    ordered: bool = False,
    votes_per_item: float = 5,
    n_items: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(votes table ``item, annotator, label, value``, {planted annotator: kind})."""
    rng = np.random.default_rng(seed)
    bad = {"spam": 10} if bad is None else bad
    counts = np.maximum(rng.poisson(votes_per_honest, n_honest), 1)
    kinds = ["honest"] * n_honest + [kind for kind, m in bad.items() for _ in range(m)]
    sizes = np.r_[counts, np.full(len(kinds) - n_honest, votes_per_bad)].astype(int)
    n_items = n_items or max(int(sizes.sum() / votes_per_item), 50)
    truth = rng.integers(0, k, n_items)
    who = np.repeat(np.arange(len(kinds)), sizes)
    # each annotator sees distinct items
    item = np.concatenate([rng.choice(n_items, min(s, n_items), replace=False) for s in sizes])
    who = np.repeat(np.arange(len(kinds)), np.minimum(sizes, n_items))
    t = truth[item]
    right = rng.random(item.size) < accuracy
    if ordered:
        step = np.where(rng.random(item.size) < 0.5, -1, 1)
        miss = t + step
        miss = np.where((miss < 0) | (miss >= k), t - step, miss)
    else:
        miss = (t + rng.integers(1, k, item.size)) % k
    honest_answer = np.where(right, t, miss)
    kind = np.asarray(kinds)[who]
    value = np.select(
        [kind == "spam", kind == "constant", kind == "reversed"],
        [rng.integers(0, k, item.size), np.full(item.size, (k - 1) // 2), k - 1 - honest_answer],
        honest_answer,
    )
    names = np.array([f"w{rng.integers(10**9):09d}" for _ in kinds])  # random ids: no order to exploit
    table = pd.DataFrame({"item": [f"i{j}" for j in item], "annotator": names[who], "label": "answer", "value": value})
    table.attrs["truth"] = pd.Series(truth, index=[f"i{j}" for j in range(n_items)])
    planted = {names[i]: kinds[i] for i in range(len(kinds)) if kinds[i] != "honest"}
    return table, planted


#: A planted noisy rater's noise SD over an honest rater's.
NOISY_FACTOR = 4.0


def ratings(
    *,
    n_honest: int = 50,
    votes_per_honest: float = 20,
    noise: float = 15.0,
    bad: dict[str, int] | None = None,
    votes_per_bad: int = 50,
    votes_per_item: float = 10,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(votes table ``item, annotator, label, value`` of one continuous label, {planted rater: kind})."""
    rng = np.random.default_rng(seed)
    bad = {"noisy": 3, "random": 3} if bad is None else bad
    kinds = ["honest"] * n_honest + [kind for kind, m in bad.items() for _ in range(m)]
    sizes = np.r_[np.maximum(rng.poisson(votes_per_honest, n_honest), 1), np.full(len(kinds) - n_honest, votes_per_bad)]
    n_items = max(int(sizes.sum() / votes_per_item), 50)
    mu = rng.normal(50, 20, n_items)
    item = np.concatenate([rng.choice(n_items, min(s, n_items), replace=False) for s in sizes])
    who = np.repeat(np.arange(len(kinds)), np.minimum(sizes, n_items))
    kind = np.asarray(kinds)[who]
    bias = rng.normal(0, 5, len(kinds))[who]
    sd = np.where(kind == "noisy", NOISY_FACTOR * noise, noise)
    honest = mu[item] + bias + rng.normal(0, 1, item.size) * sd
    value = np.select(
        [kind == "random", kind == "reversed", kind == "compressed", kind == "constant"],
        [rng.uniform(0, 100, item.size), 100 - honest, 50 + (honest - 50) / 3, np.full(item.size, 50.0)],
        honest,
    )
    names = np.array([f"w{rng.integers(10**9):09d}" for _ in kinds])
    table = pd.DataFrame(
        {
            "item": [f"i{j}" for j in item],
            "annotator": names[who],
            "label": "affect",
            "value": np.clip(np.round(value), 0, 100),
        }
    )
    planted = {names[i]: kinds[i] for i in range(len(kinds)) if kinds[i] != "honest"}
    return table, planted


def rankings(
    *,
    n_honest: int = 200,
    rankings_per_honest: float = 10,
    bad: dict[str, int] | None = None,
    rankings_per_bad: int = 20,
    k: int = 4,
    swap: float = 0.3,
    passes: int = 2,
    rankers_per_set: int = 3,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(rankings table ``group, annotator, ranking, as_displayed``, {planted ranker: kind})."""
    rng = np.random.default_rng(seed)
    bad = {"chance": 10} if bad is None else bad
    kinds = ["honest"] * n_honest + [kind for kind, m in bad.items() for _ in range(m)]
    sizes = np.r_[
        np.maximum(rng.poisson(rankings_per_honest, n_honest), 1), np.full(len(kinds) - n_honest, rankings_per_bad)
    ]
    n_sets = int(np.ceil(sizes.sum() / rankers_per_set))
    names = np.array([f"r{rng.integers(10**9):09d}" for _ in kinds])
    # assign rankers to sets: each ranker's rankings go to distinct sets
    slots = np.concatenate([rng.choice(n_sets, min(s, n_sets), replace=False) for s in sizes])
    who = np.repeat(np.arange(len(kinds)), np.minimum(sizes, n_sets))
    rows = []
    ids = [[f"m{rng.integers(10**12):012d}" for _ in range(k)] for _ in range(n_sets)]  # best first
    for g, w in zip(slots.tolist(), who.tolist()):
        true = list(ids[g])
        shown = [true[i] for i in rng.permutation(k)]
        order = list(true)
        for _ in range(passes):
            for i in range(k - 1):
                if rng.random() < swap:
                    order[i], order[i + 1] = order[i + 1], order[i]
        kind = kinds[w]
        if kind == "chance":
            order = [true[i] for i in rng.permutation(k)]
        elif kind == "reversed":
            order = order[::-1]
        elif kind == "copier":
            order = list(shown)
        rows.append((f"g{g}", names[w], tuple(order), tuple(order) == tuple(shown)))
    table = pd.DataFrame(rows, columns=["group", "annotator", "ranking", "as_displayed"])
    table.attrs["truth"] = {f"g{g}": tuple(ids[g]) for g in range(n_sets)}  # best first
    planted = {names[i]: kinds[i] for i in range(len(kinds)) if kinds[i] != "honest"}
    return table, planted
