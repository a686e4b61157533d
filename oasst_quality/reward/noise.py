"""Noise models for preference pairs. Each takes a ``seed``; a flipped pair swaps chosen and rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError


def _flip(pairs: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    out = pairs.copy()
    out.loc[mask, ["chosen", "rejected"]] = pairs.loc[mask, ["rejected", "chosen"]].to_numpy()
    out["flipped"] = mask
    return out


def flip_uniform(pairs: pd.DataFrame, rate: float, *, seed: int = 0) -> pd.DataFrame:
    """Flip each pair independently with probability ``rate``."""
    return _flip(pairs, np.random.default_rng(seed).random(len(pairs)) < rate)


def flip_close(pairs: pd.DataFrame, rate: float, *, seed: int = 0, sharpness: float = 1.0) -> pd.DataFrame:
    """Flip ``rate`` of the pairs on average, concentrated on close pairs (adjacent ranks).

    A pair's weight is exp(−sharpness × (rank gap − 1)); flip probabilities are proportional to the
    weight and scaled to the requested mean rate (capped at 1/2 per pair: a coin flip).
    """
    gap = (
        (pairs["rank_rejected"] - pairs["rank_chosen"]).to_numpy(dtype=float)
        if "rank_rejected" in pairs
        else (np.ones(len(pairs)))
    )
    w = np.exp(-sharpness * (gap - 1))
    p = np.minimum(rate * w * len(w) / w.sum(), 0.5) if rate > 0 else np.zeros(len(w))
    return _flip(pairs, np.random.default_rng(seed).random(len(pairs)) < p)


def accuracy_from_agreement(q: float) -> float:
    """One annotator's accuracy a when two independent annotators agree with probability q.

    q = a² + (1 − a)², so a = (1 + sqrt(2q − 1)) / 2 (for q >= 1/2).
    """
    if not 0.5 <= q <= 1:
        raise UsageError("pairwise agreement must lie in [0.5, 1] for this model")
    return (1 + np.sqrt(2 * q - 1)) / 2


def spam_annotators(pairs: pd.DataFrame, share: float, *, seed: int = 0) -> pd.DataFrame:
    """A ``share`` of the pairs labelled by spammers who answer at random (half of those flip)."""
    rng = np.random.default_rng(seed)
    spam = rng.random(len(pairs)) < share
    return _flip(pairs, spam & (rng.random(len(pairs)) < 0.5))


def likert_noise_pairs(pairs: pd.DataFrame, quality: pd.Series, sd: float, *, seed: int = 0) -> pd.DataFrame:
    """Pairs re-derived from noisy Likert scores: add N(0, sd) to each reply's quality score and
    re-order each pair by the noisy scores (pairs whose order changes are flipped).

    ``quality`` maps message id -> score (e.g. the export's quality means); ids without one keep
    their pair as it is.
    """
    rng = np.random.default_rng(seed)
    ids = pd.unique(np.concatenate([pairs["chosen_id"], pairs["rejected_id"]]))
    noisy = quality.reindex(ids) + rng.normal(0, sd, ids.size)
    c = noisy.reindex(pairs["chosen_id"]).to_numpy()
    r = noisy.reindex(pairs["rejected_id"]).to_numpy()
    return _flip(pairs, np.nan_to_num(c - r, nan=1.0) < 0)


def rankings_agreement(rankings: pd.DataFrame, *, group: str = "group", ranking: str = "ranking") -> float:
    """Pairwise agreement q between rankers, measured on per-ranker rankings of the same reply sets:
    the estimate of :func:`oasst_quality.consensus.pairwise_agreement` (ties left out)."""
    from ..consensus import pairwise_agreement

    return pairwise_agreement(rankings, group=group, ranking=ranking, n_resamples=1).estimate
