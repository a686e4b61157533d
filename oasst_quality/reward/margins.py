"""Cross-fitted reward margins: each pair scored by frozen-encoder heads that never saw its tree, with their spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import UsageError


def pair_embeddings(
    pairs: pd.DataFrame, *, backbone: str | None = None, max_length: int = 128, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(chosen, rejected) embeddings of every pair by the frozen encoder, each distinct text once."""
    from .frozen import embed_texts

    n = len(pairs)
    e = embed_texts(
        [*pairs["prompt"], *pairs["prompt"]],
        [*pairs["chosen"], *pairs["rejected"]],
        backbone=backbone,
        max_length=max_length,
        device=device,
    )
    return e[:n], e[n:]


def tree_folds(groups: ArrayLike, folds: int, *, seed: int = 0) -> np.ndarray:
    """A fold number per row, every group (tree) in one fold, groups dealt to folds in a seeded order."""
    codes, uniques = pd.factorize(pd.Series(groups))
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    if len(uniques) < folds:
        raise UsageError(f"{folds} folds need at least {folds} trees; the pairs come from {len(uniques)}")
    order = np.random.default_rng(seed).permutation(len(uniques))
    return (np.argsort(order) % folds)[codes]


def cross_fitted_margins(
    chosen: np.ndarray,
    rejected: np.ndarray,
    groups: ArrayLike,
    *,
    folds: int = 5,
    ensemble: int = 3,
    head: str = "linear",
    seed: int = 0,
) -> pd.DataFrame:
    """Per pair: ``margin`` (mean over the ensemble of reward(chosen) − reward(rejected)) and ``margin_sd``
    (the ensemble's spread).

    Pairs are dealt to ``folds`` folds by tree; the pairs of a fold are scored by ``ensemble`` heads
    trained on the other folds only (the first with its L2 penalty chosen by cross-validation by
    tree, the others on bootstrap resamples of the training trees with that penalty), so no pair's
    own label, nor any pair of its tree, reaches its margin. Seeded.
    """
    from .frozen import train_head

    n = len(chosen)
    if ensemble < 1:
        raise UsageError(f"ensemble must be at least 1, got {ensemble}")
    groups = np.asarray(groups)
    fold = tree_folds(groups, folds, seed=seed)
    out = np.empty((ensemble, n))
    rng = np.random.default_rng(seed)
    for k in range(folds):
        test, train = fold == k, np.flatnonzero(fold != k)
        first = train_head(chosen[train], rejected[train], head=head, groups=groups[train], seed=seed)
        l2 = first.l2
        heads = [first]
        codes, uniques = pd.factorize(groups[train])
        members = pd.Series(np.arange(train.size)).groupby(codes).agg(list).to_list()
        for e in range(1, ensemble):
            take = rng.integers(0, len(uniques), len(uniques))
            rows = train[np.concatenate([members[t] for t in take])]
            heads.append(train_head(chosen[rows], rejected[rows], head=head, l2=l2, seed=seed + e))
        for e, h in enumerate(heads):
            out[e, test] = h.reward(chosen[test]) - h.reward(rejected[test])
    return pd.DataFrame(
        {
            "margin": out.mean(axis=0),
            "margin_sd": out.std(axis=0, ddof=1) if ensemble > 1 else np.zeros(n),
        }
    )
