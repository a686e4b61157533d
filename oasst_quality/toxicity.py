"""Toxicity: how well Detoxify's scores agree with the human labels.

The OASST exports carry Detoxify scores (``detoxify`` field) beside the human labels, so the
comparison needs no model: :func:`export_scores` takes the export's numbers (and says so), and
:func:`agreement_with_labels` compares each head with the human labels that mean the same thing:
Spearman correlation, ROC-AUC against thresholded human labels, both with seeded bootstrap
intervals over messages, per language too; :func:`calibration` and :func:`disagreements` show
where they part.

References
----------
Hanu, L. & Unitary team (2020). Detoxify. https://github.com/unitaryai/detoxify
Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a ROC curve. Radiology.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import rankdata

#: Detoxify heads and the human OASST labels that measure the same thing.
HEAD_LABELS: dict[str, tuple[str, ...]] = {
    "toxicity": ("toxicity", "not_appropriate", "hate_speech"),
    "severe_toxicity": ("toxicity", "hate_speech"),
    "obscene": ("sexual_content", "not_appropriate"),
    "identity_attack": ("hate_speech",),
    "insult": ("toxicity",),
    "threat": ("violence",),
    "sexual_explicit": ("sexual_content",),
}


def export_scores(dataset) -> pd.DataFrame:
    """The export's Detoxify scores, one row per message and one column per head, plus ``source``."""
    wide = dataset.detoxify.pivot(index="message_id", columns="head", values="score")
    wide.columns.name = None
    wide["source"] = "export"
    return wide


def _weighted_spearman(ranks_x: np.ndarray, ranks_y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Pearson correlation of fixed ranks under resampling weights f (B x n)."""
    w = f / f.sum(axis=1, keepdims=True)
    mx, my = w @ ranks_x, w @ ranks_y
    cov = w @ (ranks_x * ranks_y) - mx * my
    vx, vy = w @ ranks_x**2 - mx**2, w @ ranks_y**2 - my**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(vx * vy)


def _weighted_auc(score: np.ndarray, positive: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC under resampling weights f (B x n); ties count one half."""
    order = np.argsort(score, kind="stable")
    s, pos, f = score[order], positive[order], f[:, order]
    _, first, counts = np.unique(s, return_index=True, return_counts=True)
    group = np.repeat(np.arange(first.size), counts)
    neg_by_score = np.add.reduceat(f * ~pos, first, axis=1)  # B x distinct scores
    below = np.cumsum(neg_by_score, axis=1) - neg_by_score  # negatives with a strictly lower score
    wins = ((below[:, group] + 0.5 * neg_by_score[:, group]) * (f * pos)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / ((f * pos).sum(axis=1) * neg_by_score.sum(axis=1))


def _analytic(x: np.ndarray, y: np.ndarray, positive: np.ndarray, confidence: float) -> tuple[tuple, tuple]:
    """Spearman with a Fisher-z interval (Bonett & Wright 2000 SE) and AUC with DeLong's interval."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    n = x.size
    rho = stats.spearmanr(x, y).statistic
    se = np.sqrt((1 + rho**2 / 2) / (n - 3))
    rho_ci = (float(rho), float(np.tanh(np.arctanh(rho) - z * se)), float(np.tanh(np.arctanh(rho) + z * se)))
    if not (positive.any() and (~positive).any()):
        return rho_ci, (np.nan, np.nan, np.nan)
    ranks = rankdata(x)
    n_p, n_n = positive.sum(), (~positive).sum()
    auc = (ranks[positive].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n)
    v10 = (ranks[positive] - rankdata(x[positive])) / n_n  # per positive: share of negatives below
    v01 = 1 - (ranks[~positive] - rankdata(x[~positive])) / n_p  # per negative: share of positives above
    se_auc = np.sqrt(v10.var(ddof=1) / n_p + v01.var(ddof=1) / n_n) if n_p > 1 and n_n > 1 else np.nan
    return rho_ci, (float(auc), float(auc - z * se_auc), float(auc + z * se_auc))


def _interval(estimate: float, samples: np.ndarray, confidence: float) -> tuple[float, float, float]:
    ok = samples[~np.isnan(samples)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ok, [tail, 100 - tail]) if ok.size else (np.nan, np.nan)
    return float(estimate), float(low), float(high)


def _pairs(dataset, scores: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = export_scores(dataset) if scores is None else scores
    human = dataset.labels.pivot_table(index="message_id", columns="label", values="value")
    return scores, human


def agreement_with_labels(
    dataset,
    *,
    scores: pd.DataFrame | None = None,
    threshold: float = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    by_language: bool = False,
    min_messages: int = 30,
    chunk: int = 50,
    max_bootstrap: int = 20_000,
) -> pd.DataFrame:
    """Agreement of each Detoxify head with the matching human labels.

    For each (head, label) pair over the messages that have both: ``spearman`` (rank correlation
    of score and human mean) and ``auc`` (ROC-AUC of the score against the human label
    thresholded at ``threshold``: for a flag, a majority saying yes), each with a bootstrap
    interval over messages (above ``max_bootstrap`` messages, where a resample costs a pass over
    every message and the intervals are narrow anyway, analytic intervals instead: Fisher z with
    the Bonett-Wright standard error for Spearman, DeLong's for the AUC; ``interval`` says which);
    ``n`` and ``n_positive``. ``scores`` defaults to the export's own
    (:func:`export_scores`); pass :func:`score_texts` output to judge a model you ran.
    ``by_language=True`` adds a row per language with at least ``min_messages`` messages.
    """
    scores, human = _pairs(dataset, scores)
    langs = dataset.messages.set_index("message_id")["lang"]
    rng = np.random.default_rng(seed)
    rows = []
    for head, labels in HEAD_LABELS.items():
        if head not in scores.columns:
            continue
        for label in labels:
            if label not in human.columns:
                continue
            both = pd.concat([scores[head].rename("score"), human[label].rename("human")], axis=1, join="inner")
            both = both.dropna()
            groups = [("all", both)]
            if by_language:
                lang = langs.reindex(both.index)
                groups += [(str(k), g) for k, g in both.groupby(lang) if len(g) >= min_messages]
            for lang_name, g in groups:
                if len(g) < 3:
                    continue
                x, y = g["score"].to_numpy(), g["human"].to_numpy()
                positive = y >= threshold
                if len(g) > max_bootstrap:
                    rho, auc = _analytic(x, y, positive, confidence)
                    rows.append(_row(head, label, lang_name, g, positive, rho, auc, "analytic", scores))
                    continue
                rx, ry = rankdata(x), rankdata(y)
                has_both = positive.any() and (~positive).any()
                rho_s, auc_s = np.empty(n_resamples), np.empty(n_resamples)
                for start in range(0, n_resamples, chunk):  # bounded memory: chunk x messages weights
                    size = min(chunk, n_resamples - start)
                    draws = rng.integers(0, len(g), (size, len(g))) + (np.arange(size) * len(g))[:, None]
                    f = np.bincount(draws.ravel(), minlength=size * len(g)).reshape(size, len(g)).astype(float)
                    rho_s[start : start + size] = _weighted_spearman(rx, ry, f)
                    auc_s[start : start + size] = _weighted_auc(x, positive, f) if has_both else np.nan
                ones = np.ones((1, len(g)))
                rho = _interval(_weighted_spearman(rx, ry, ones)[0], rho_s, confidence)
                auc = (
                    _interval(_weighted_auc(x, positive, ones)[0], auc_s, confidence)
                    if has_both
                    else (np.nan, np.nan, np.nan)
                )
                rows.append(_row(head, label, lang_name, g, positive, rho, auc, "bootstrap", scores))
    return pd.DataFrame(rows)


def _row(head, label, lang, g, positive, rho, auc, interval, scores) -> dict:
    return {
        "head": head,
        "label": label,
        "lang": lang,
        "n": len(g),
        "n_positive": int(positive.sum()),
        "spearman": rho[0],
        "spearman_low": rho[1],
        "spearman_high": rho[2],
        "auc": auc[0],
        "auc_low": auc[1],
        "auc_high": auc[2],
        "interval": interval,
        "source": scores["source"].iloc[0] if "source" in scores else "given",
    }


def calibration(
    dataset,
    *,
    head: str = "toxicity",
    label: str = "toxicity",
    bins: int = 10,
    scores: pd.DataFrame | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Model score against human judgement in quantile bins of the score: mean score, mean human
    value, and the share of messages the humans label positive (mean >= ``threshold``)."""
    scores, human = _pairs(dataset, scores)
    both = pd.concat([scores[head].rename("score"), human[label].rename("human")], axis=1, join="inner").dropna()
    both["bin"] = pd.qcut(both["score"].rank(method="first"), q=min(bins, len(both)), labels=False)
    g = both.groupby("bin")
    return pd.DataFrame(
        {
            "n": g.size(),
            "score_low": g["score"].min(),
            "score_high": g["score"].max(),
            "mean_score": g["score"].mean(),
            "mean_human": g["human"].mean(),
            "human_positive_share": g["human"].apply(lambda v: (v >= threshold).mean()),
        }
    ).reset_index(drop=True)


def disagreements(
    dataset, *, head: str = "toxicity", label: str = "toxicity", k: int = 10, scores: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The messages where model and humans disagree most: largest gap between score rank and human rank."""
    scores, human = _pairs(dataset, scores)
    both = pd.concat([scores[head].rename("score"), human[label].rename("human")], axis=1, join="inner").dropna()
    gap = both["score"].rank(pct=True) - both["human"].rank(pct=True)
    both["gap"] = gap
    both["direction"] = np.where(gap > 0, "model higher", "humans higher")
    top = both.reindex(gap.abs().sort_values(ascending=False).index[:k])
    texts = dataset.messages.set_index("message_id")[["lang", "text"]]
    return top.join(texts).reset_index(names="message_id")
