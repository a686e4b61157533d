"""Suspect preference pairs: the probability that each pair's order is wrong, from all the evidence the data has."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import NotComputableError, UsageError
from ..estimate import Estimate

#: Rank-gap buckets (1, 2, 3 or more) in which the Likert and margin sources learn their own shift.
GAP_BUCKETS = 3
#: The source names, in the order of the ``evidence`` column.
SOURCES = ("votes", "quality", "margin")
TABLE_COLUMNS = (
    "group",
    "parent",
    "chosen",
    "rejected",
    "p_flipped",
    "margin",
    "margin_sd",
    "votes_for",
    "votes_against",
    "quality_chosen",
    "quality_rejected",
    "evidence",
)


# --------------------------------------------------------------------------- evidence


def ranker_votes(
    pairs: pd.DataFrame, rankings: pd.DataFrame, *, group: str = "group", annotator: str = "annotator"
) -> pd.DataFrame:
    """Each ranker's vote on each pair: ``pair`` (row of ``pairs``), ``annotator``, ``agree`` (1 when the
    ranker put the pair's chosen reply above its rejected one, 0 when below; ties and rankers who did
    not rank both replies give no vote).

    ``pairs`` has ``parent`` (the reply set), ``chosen_id``, ``rejected_id``; ``rankings`` is a
    per-ranker table (``group, annotator, ranking``: ids best first, tied positions as sets).
    """
    missing = [c for c in (group, annotator, "ranking") if c not in rankings.columns]
    if missing:
        have = list(rankings.columns)
        raise UsageError(f"rankings lack {missing} (they have {have}); need group, annotator, ranking")
    rows = []
    for g, who, ranking in zip(rankings[group], rankings[annotator], rankings["ranking"]):
        for level, position in enumerate(ranking):
            for item in position if isinstance(position, (set, frozenset)) else (position,):
                rows.append((g, who, item, level))
    long = pd.DataFrame(rows, columns=["parent", "annotator", "item", "level"])
    left = pd.DataFrame({"pair": np.arange(len(pairs)), "parent": pairs["parent"].to_numpy()})
    c = left.assign(item=pairs["chosen_id"].to_numpy()).merge(long, on=["parent", "item"])
    r = left.assign(item=pairs["rejected_id"].to_numpy()).merge(long, on=["parent", "item"])
    both = c.merge(r, on=["pair", "annotator"], suffixes=("_c", "_r"))
    both = both[both["level_c"] != both["level_r"]]
    out = pd.DataFrame(
        {
            "pair": both["pair"].to_numpy(dtype=np.int64),
            "annotator": both["annotator"].to_numpy(),
            "agree": (both["level_c"] < both["level_r"]).to_numpy(dtype=np.int8),
        }
    )
    return out.sort_values(["pair", "annotator"], kind="stable").reset_index(drop=True)


def reply_quality(labels: pd.DataFrame, *, label: str = "quality") -> pd.DataFrame:
    """The Likert ``label`` per reply from a labels table (``item, label, value, count``): ``value``
    and ``count`` indexed by item (a count that is missing or 0 counts as one vote)."""
    rows = labels[labels["label"] == label]
    out = rows.groupby("item")[["value", "count"]].first()
    out["count"] = pd.to_numeric(out["count"], errors="coerce").fillna(1).clip(lower=1)
    return out.astype(float)


# --------------------------------------------------------------------------- the model


@dataclass
class _Continuous:
    """A symmetric two-component Gaussian source: x | kept ~ N(mu[gap], s²), x | flipped ~ N(−mu[gap], s²),
    s² = tau² + kappa·v (v: the pair's own known variance share, from vote counts or an ensemble's spread)."""

    x: np.ndarray  # NaN where absent
    v: np.ndarray
    gap: np.ndarray
    mu: np.ndarray = field(default_factory=lambda: np.zeros(GAP_BUCKETS))
    tau2: float = 0.01
    kappa: float = 0.01

    def __post_init__(self):
        self.ok = np.isfinite(self.x)
        self.xs, self.vs, self.gs = self.x[self.ok], self.v[self.ok], self.gap[self.ok]

    def var(self, tau2=None, kappa=None) -> np.ndarray:
        return (self.tau2 if tau2 is None else tau2) + (self.kappa if kappa is None else kappa) * self.vs

    def llr(self) -> np.ndarray:
        """log P(x | flipped) − log P(x | kept), per pair (0 where absent)."""
        out = np.zeros(self.x.size)
        out[self.ok] = -2 * self.mu[self.gs] * self.xs / self.var()
        return out

    def m_step(self, p: np.ndarray) -> None:
        """Weighted maximum likelihood: mu per gap in closed form for every (tau², kappa) of a log grid."""
        y = (1 - 2 * p[self.ok]) * self.xs  # E[sign]·x: what x a kept pair would show
        s2 = _TAU2[:, None] + _KAPPA[:, None] * self.vs[None, :]  # grid x pairs
        w = 1 / s2
        onehot = np.eye(GAP_BUCKETS)[self.gs]
        den = w @ onehot
        mu = np.maximum(np.divide((w * y) @ onehot, den, out=np.zeros_like(den), where=den > 0), 0.0)
        m = mu[:, self.gs]
        # expected negative log-likelihood over z: (x − mu)² kept, (x + mu)² flipped
        nll = 0.5 * (np.log(s2) + (self.xs**2 - 2 * m * y + m**2) * w).sum(axis=1)
        best = int(np.argmin(nll))
        self.tau2, self.kappa, self.mu = float(_TAU2[best]), float(_KAPPA[best]), mu[best]


_GRID = np.logspace(-5, 1, 9)
_TAU2, _KAPPA = (g.ravel() for g in np.meshgrid(_GRID, np.concatenate([[0.0], _GRID])))


@dataclass
class _Votes:
    """A one-coin model per ranker and rank gap over pairs: a ranker agrees with the true order with
    probability a[ranker, gap] (close replies are harder to order), shrunk toward the pooled accuracy
    at that gap with ``prior`` pseudo-votes, and at least ``floor``."""

    pair: np.ndarray
    who: np.ndarray
    agree: np.ndarray
    gap: np.ndarray  # per pair
    n_pairs: int
    prior: float = 4.0
    floor: float = 0.5

    def __post_init__(self):
        self.n_rankers = int(self.who.max()) + 1 if self.who.size else 0
        self.cell = self.who * GAP_BUCKETS + self.gap[self.pair]
        self.acc = np.full(self.n_rankers * GAP_BUCKETS, 0.7)
        self.voted = np.bincount(self.pair, minlength=self.n_pairs) > 0

    def llr(self) -> np.ndarray:
        a = np.clip(self.acc[self.cell], 1e-4, 1 - 1e-4)
        per_vote = np.where(self.agree == 1, np.log((1 - a) / a), np.log(a / (1 - a)))
        return np.bincount(self.pair, weights=per_vote, minlength=self.n_pairs)

    def m_step(self, p: np.ndarray) -> None:
        right = np.where(self.agree == 1, 1 - p[self.pair], p[self.pair])  # P(the vote is right)
        size = self.n_rankers * GAP_BUCKETS
        hits = np.bincount(self.cell, weights=right, minlength=size)
        n = np.bincount(self.cell, minlength=size)
        gaps = np.arange(size) % GAP_BUCKETS
        pooled = np.bincount(gaps, weights=hits, minlength=GAP_BUCKETS) / np.maximum(
            np.bincount(gaps, weights=n, minlength=GAP_BUCKETS), 1
        )
        # below-chance accuracies are floored at chance: a ranker who merely agrees less often with the
        # export than chance (the export was made from the votes) is not taken for an adversary
        self.acc = np.maximum((hits + self.prior * pooled[gaps]) / (n + self.prior), self.floor)

    def ranker_accuracy(self) -> np.ndarray:
        """Each ranker's accuracy over all its votes (the per-gap cells weighted by their votes)."""
        n = np.bincount(self.cell, minlength=self.n_rankers * GAP_BUCKETS).reshape(-1, GAP_BUCKETS)  # votes per cell
        a = self.acc.reshape(-1, GAP_BUCKETS)
        return (a * n).sum(axis=1) / np.maximum(n.sum(axis=1), 1)


def _fit_em(sources: dict, n: int, *, max_iter=200, tol=1e-6, rate0=0.2, from_votes=True):
    """EM over a latent flip per pair: returns (p_flipped, noise rate, per-source LLR, iterations).

    With ``from_votes`` (the export's order is the consensus of the rankers' votes, as in OASST), pairs
    with votes get an even prior: the export is no evidence beside the votes it was made from
    (counting it would count them twice), and the other pairs get the learned rate of the pairs
    without votes as their prior. Otherwise every pair gets the learned rate.
    """
    from scipy.special import expit, logit

    rate = rate0
    voted = sources["votes"].voted if "votes" in sources and from_votes else np.zeros(n, dtype=bool)
    # start from posteriors that lean on the sign of each continuous source: starting flat lets one
    # broad Gaussian absorb both components (a poor local optimum)
    lean = sum((-np.sign(np.nan_to_num(s.x)) for s in sources.values() if isinstance(s, _Continuous)), np.zeros(n))
    p = expit(logit(rate) + 1.5 * lean)
    for s in sources.values():
        s.m_step(p)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        llrs = {k: s.llr() for k, s in sources.items()}
        total = sum(llrs.values()) if llrs else np.zeros(n)
        if (~voted).any():
            rate = _rate_given(total[~voted])
        new = expit(np.where(voted, 0.0, logit(rate)) + total)
        for s in sources.values():
            s.m_step(new)
        done = np.max(np.abs(new - p)) < tol
        p = new
        if done:
            break
    llrs = {k: s.llr() for k, s in sources.items()}
    return p, rate, llrs, iterations


def _rate_given(llr: np.ndarray) -> float:
    """The rate r with mean(sigmoid(logit r + llr)) = r: the maximum-likelihood prior for fixed evidence
    (bisection on a monotone function; at most 1/2)."""
    from scipy.special import expit, logit

    lo, hi = 1e-4, 0.5
    if expit(logit(hi) + llr).mean() >= hi:
        return hi
    if expit(logit(lo) + llr).mean() <= lo:
        return lo
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expit(logit(mid) + llr).mean() > mid else (lo, mid)
    return (lo + hi) / 2


def _gap_bucket(pairs: pd.DataFrame) -> np.ndarray:
    if {"rank_chosen", "rank_rejected"} <= set(pairs.columns):
        gap = (pairs["rank_rejected"].to_numpy(dtype=float) - pairs["rank_chosen"].to_numpy(dtype=float)).astype(int)
        return np.clip(np.abs(gap), 1, GAP_BUCKETS) - 1
    return np.zeros(len(pairs), dtype=int)


@dataclass
class PairVerdicts:
    """Per pair ``table`` (:data:`TABLE_COLUMNS`, one row per pair of ``pairs`` in order), the
    dataset's ``noise_rate`` (an :class:`~oasst_quality.estimate.Estimate` over trees), what each
    source learned (``sources``), per-ranker reliability (``rankers``: annotator, votes, accuracy),
    and the rule a flag follows."""

    table: pd.DataFrame
    noise_rate: Estimate
    sources: dict
    rankers: pd.DataFrame
    pairs: pd.DataFrame
    iterations: int
    rule: str
    embeddings: tuple | None = None
    evidence: dict | None = None

    @property
    def n_pairs(self) -> int:
        return len(self.table)

    def to_trl(self) -> pd.DataFrame:
        """(prompt, chosen, rejected, label_confidence = 1 − p_flipped) for soft-label or weighted
        DPO/reward training (TRL's column names)."""
        return pd.DataFrame(
            {
                "prompt": self.pairs["prompt"].to_numpy() if "prompt" in self.pairs else "",
                "chosen": self.pairs["chosen"].to_numpy(),
                "rejected": self.pairs["rejected"].to_numpy(),
                "label_confidence": 1 - self.table["p_flipped"].to_numpy(),
            }
        )

    def suspects(self, threshold: float = 0.5) -> pd.DataFrame:
        """The pairs with ``p_flipped`` at or above ``threshold``, most suspect first."""
        t = self.table
        return t[t["p_flipped"] >= threshold].sort_values("p_flipped", ascending=False, kind="stable")

    def to_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs,
            "noise_rate": self.noise_rate.to_dict(),
            "sources": self.sources,
            "rule": self.rule,
            "iterations": self.iterations,
        }


def _evidence_text(llrs: dict, i: int) -> str:
    parts = [f"{k} {llrs[k][i]:+.2f}" for k in SOURCES if k in llrs and llrs[k][i] != 0]
    return "; ".join(parts) if parts else "none"


def _build_sources(pairs, votes, quality, margins, gap):
    n = len(pairs)
    sources: dict = {}
    if votes is not None and len(votes):
        codes, names = pd.factorize(votes["annotator"])
        sources["votes"] = _Votes(votes["pair"].to_numpy(np.int64), codes, votes["agree"].to_numpy(np.int8), gap, n)
        sources["votes"].names = np.asarray(names)
    if quality is not None and len(quality):
        qc = quality.reindex(pairs["chosen_id"].to_numpy())
        qr = quality.reindex(pairs["rejected_id"].to_numpy())
        x = qc["value"].to_numpy() - qr["value"].to_numpy()
        v = 1 / qc["count"].to_numpy() + 1 / qr["count"].to_numpy()
        if np.isfinite(x).sum() >= 10:
            sources["quality"] = _Continuous(x, np.nan_to_num(v, nan=1.0), gap)
    if margins is not None:
        x = np.asarray(margins["margin"], dtype=float)
        v = np.asarray(margins["margin_sd"], dtype=float) ** 2 if "margin_sd" in margins else np.zeros(n)
        if np.isfinite(x).sum() >= 10:
            sources["margin"] = _Continuous(x, np.nan_to_num(v, nan=0.0), gap)
    return sources


def flip_model(
    pairs: pd.DataFrame,
    *,
    votes: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    margins: pd.DataFrame | None = None,
    n_resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    max_iter: int = 200,
    export_from_votes: bool = True,
) -> PairVerdicts:
    """Fit the latent-flip model to the evidence on ``pairs`` and return every pair's ``p_flipped``.

    Each pair has a latent flip z (its order is wrong) with prior probability the dataset's noise
    rate. Given z the sources are independent: each ranker's vote agrees with the true order with
    that ranker's learned accuracy (``votes``, from :func:`ranker_votes`); the replies' Likert
    difference (``quality``, from :func:`reply_quality`) is Gaussian around +mu (kept) or −mu
    (flipped) with a variance that grows with 1/count of each reply's votes; the cross-fitted reward
    margin (``margins``: ``margin, margin_sd``) likewise, its variance growing with the ensemble's
    spread. mu is learned per rank gap (1, 2, 3+). EM fits the rate and every source's parameters;
    sources absent for a pair (no votes, no labels) are left out of its posterior, not imputed.
    ``export_from_votes`` (default, as in OASST, whose ranks are the consensus of the rankers):
    a pair with votes gets an even prior, since the export's order adds nothing to the votes it was
    made from; set it False when the export's labels were made apart from the rankings given.
    The noise rate's interval is a percentile bootstrap over trees (``n_resamples`` refits, seeded).
    """
    if not len(pairs):
        raise NotComputableError("no preference pairs: the data has no reply set with two or more ranked replies")
    gap = _gap_bucket(pairs)
    p, sources, llrs, iterations = _posterior(pairs, votes, quality, margins, gap, max_iter, export_from_votes)
    n = len(pairs)
    noise = _noise_interval(pairs, votes, quality, margins, gap, p, n_resamples, confidence, seed, export_from_votes)
    table = pd.DataFrame(
        {
            "group": pairs["group"].to_numpy(),
            "parent": pairs["parent"].to_numpy(),
            "chosen": pairs["chosen_id"].to_numpy(),
            "rejected": pairs["rejected_id"].to_numpy(),
            "p_flipped": p,
        }
    )
    if margins is not None:
        table["margin"] = np.asarray(margins["margin"], dtype=float)
        table["margin_sd"] = np.asarray(margins.get("margin_sd", np.full(n, np.nan)), dtype=float)
    else:
        table["margin"] = np.nan
        table["margin_sd"] = np.nan
    if "votes" in sources:
        s = sources["votes"]
        table["votes_for"] = np.bincount(s.pair, weights=s.agree, minlength=n).astype(int)
        table["votes_against"] = np.bincount(s.pair, weights=1 - s.agree, minlength=n).astype(int)
        rankers = pd.DataFrame(
            {"annotator": s.names, "votes": np.bincount(s.who, minlength=s.n_rankers), "accuracy": s.ranker_accuracy()}
        )
    else:
        table["votes_for"] = 0
        table["votes_against"] = 0
        rankers = pd.DataFrame(columns=["annotator", "votes", "accuracy"])
    if quality is not None and len(quality):
        table["quality_chosen"] = quality["value"].reindex(pairs["chosen_id"].to_numpy()).to_numpy()
        table["quality_rejected"] = quality["value"].reindex(pairs["rejected_id"].to_numpy()).to_numpy()
    else:
        table["quality_chosen"] = np.nan
        table["quality_rejected"] = np.nan
    table["evidence"] = [_evidence_text(llrs, i) for i in range(n)]
    summary = {}
    for k, s in sources.items():
        info: dict = {"n_pairs": int(np.count_nonzero(llrs[k])), "mean_abs_llr": float(np.abs(llrs[k]).mean())}
        if isinstance(s, _Continuous):
            info.update(mu_by_gap=[float(m) for m in s.mu], tau2=s.tau2, kappa=s.kappa)
        else:
            info.update(n_votes=int(s.pair.size), n_rankers=s.n_rankers)
        summary[k] = info
    rule = (
        "p_flipped = P(the pair's order is wrong | votes, Likert quality, reward margin) under a latent-flip "
        "model fitted by EM; a pair is suspect when p_flipped >= 0.5"
    )
    evidence = {"votes": votes, "quality": quality, "margins": margins, "export_from_votes": export_from_votes}
    return PairVerdicts(table[list(TABLE_COLUMNS)], noise, summary, rankers, pairs, iterations, rule, evidence=evidence)


def _posterior(pairs, votes, quality, margins, gap, max_iter=200, from_votes=True):
    sources = _build_sources(pairs, votes, quality, margins, gap)
    if not sources:
        raise NotComputableError(
            "no evidence on any pair: give per-ranker rankings, Likert quality labels or reward margins"
        )
    p, _, llrs, iterations = _fit_em(sources, len(pairs), max_iter=max_iter, from_votes=from_votes)
    return p, sources, llrs, iterations


def _noise_interval(pairs, votes, quality, margins, gap, p, n_resamples, confidence, seed, from_votes) -> Estimate:
    """The noise rate (mean p_flipped) with a percentile bootstrap over trees, refitting EM per resample."""
    from .._util import bootstrap_estimate

    codes, uniques = pd.factorize(pairs["group"])
    n_trees = len(uniques)
    rng = np.random.default_rng(seed)
    by_tree = pd.Series(np.arange(len(pairs))).groupby(codes).agg(list).to_list()
    vote_rows = votes.groupby("pair").indices if votes is not None and len(votes) else {}
    stats = []
    for _ in range(n_resamples):
        take = rng.integers(0, n_trees, n_trees)
        rows = np.concatenate([by_tree[t] for t in take])
        sub = pairs.iloc[rows].reset_index(drop=True)
        sub_votes = None
        if vote_rows:
            parts, offsets = [], []
            for new, old in enumerate(rows):
                if old in vote_rows:
                    parts.append(vote_rows[old])
                    offsets.append(np.full(len(vote_rows[old]), new))
            if parts:
                idx = np.concatenate(parts)
                sub_votes = votes.iloc[idx].assign(pair=np.concatenate(offsets))
        sub_margins = margins.iloc[rows].reset_index(drop=True) if margins is not None else None
        sources = _build_sources(sub, sub_votes, quality, sub_margins, gap[rows])
        if not sources:
            continue
        sp, _, _, _ = _fit_em(sources, len(rows), max_iter=60, tol=1e-4, from_votes=from_votes)
        stats.append(sp.mean())
    if not stats:
        raise NotComputableError("no bootstrap resample of the trees had evidence to fit the model on")
    method = "mean posterior p_flipped; percentile bootstrap over trees, EM refitted per resample"
    # without ranker votes the rate rests on the shape of weak continuous evidence alone
    details = {"n_trees": n_trees, "from_votes": votes is not None and len(votes) > 0}
    return bootstrap_estimate(
        p.mean(), np.array(stats), confidence, len(pairs), method, details, units=n_trees, unit="tree"
    )


# --------------------------------------------------------------------------- planted data


def plant_rankers(
    rankings: pd.DataFrame,
    *,
    honest: int = 3,
    random: int = 1,
    honest_pool: int = 6,
    random_pool: int = 2,
    noise: float = 1.0,
    reverse: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planted rankers on reply sets whose order is taken as the truth (``rankings``: ``group``,
    ``ranking`` best first).

    Each set gets ``honest`` rankers drawn from a pool of ``honest_pool`` (each ranks by the true
    position plus N(0, ``noise``²) on a one-per-rank scale: honest but noisy) and ``random`` from a
    pool of ``random_pool`` (a uniformly random order). The export's order is the Borda order of
    the set's rankers, reversed outright in a ``reverse`` share of the sets. Returns (per-ranker
    rankings ``group, annotator, ranking``; the export's rankings ``group, ranking, reversed``).
    """
    from ..consensus import borda

    rng = np.random.default_rng(seed)
    honest_names = np.array([f"honest-{i + 1}" for i in range(honest_pool)])
    random_names = np.array([f"random-{i + 1}" for i in range(random_pool)])
    per_ranker, export = [], []
    for g, order in zip(rankings["group"], rankings["ranking"]):
        order = list(order)
        k = len(order)
        ballots = []
        for who in rng.choice(honest_names, honest, replace=False):
            score = -np.arange(k) + rng.normal(0, noise, k)
            ballot = tuple(order[i] for i in np.argsort(-score, kind="stable"))
            ballots.append(ballot)
            per_ranker.append((g, str(who), ballot))
        for who in rng.choice(random_names, random, replace=False):
            ballot = tuple(order[i] for i in rng.permutation(k))
            ballots.append(ballot)
            per_ranker.append((g, str(who), ballot))
        merged = borda(ballots, candidates=order)
        reversed_ = bool(rng.random() < reverse)
        export.append((g, tuple(merged[::-1] if reversed_ else merged), reversed_))
    return (
        pd.DataFrame(per_ranker, columns=["group", "annotator", "ranking"]),
        pd.DataFrame(export, columns=["group", "ranking", "reversed"]),
    )


def with_ranks(dataset, export: pd.DataFrame):
    """A copy of ``dataset`` whose messages carry the ranks of ``export`` (``group``, ``ranking``);
    replies of other sets keep theirs."""
    messages = dataset.messages.copy()
    rank = {item: float(i) for order in export["ranking"] for i, item in enumerate(order)}
    ids = messages["message_id"]
    new = ids.map(rank)
    messages["rank"] = new.where(new.notna(), messages["rank"])
    return replace(dataset, messages=messages)


def planted_flips(pairs: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """True where a pair's order disagrees with the truth's ranking (``group``, ``ranking``)."""
    pos = {item: i for order in truth["ranking"] for i, item in enumerate(order)}
    c = pairs["chosen_id"].map(pos).to_numpy(dtype=float)
    r = pairs["rejected_id"].map(pos).to_numpy(dtype=float)
    return c > r


@dataclass
class PlantedPreferences:
    """Pairs from planted export ranks, with the evidence and the truth: ``pairs``
    (:func:`~oasst_quality.reward.preference_data` columns), ``rankings`` (the planted rankers),
    ``quality`` (the real Likert quality per reply), ``flipped`` (the truth, per pair)."""

    pairs: pd.DataFrame
    rankings: pd.DataFrame
    quality: pd.DataFrame
    flipped: np.ndarray


def planted_preferences(datasets, *, noise: float = 1.0, reverse: float = 0.1, seed: int = 0) -> PlantedPreferences:
    """Plant rankers (:func:`plant_rankers`) on each dataset's ranked reply sets, whose real ranks are
    taken as the truth, and derive the pairs from the planted export; a pair that two datasets share
    (the same chosen and rejected ids) is kept once. Dataset i is planted with seed ``seed + i``."""
    from .. import adapter
    from ..reward import preference_data

    parts, rankers, quality, flips = [], [], [], []
    for i, ds in enumerate(datasets):
        truth = adapter.rankings(ds)
        per, export = plant_rankers(truth, noise=noise, reverse=reverse, seed=seed + i)
        pairs = preference_data(with_ranks(ds, export))
        parts.append(pairs)
        flips.append(planted_flips(pairs, truth))
        rankers.append(per)
        quality.append(reply_quality(adapter.labels(ds)))
    pairs = pd.concat(parts, ignore_index=True)
    keep = ~pairs.duplicated(["chosen_id", "rejected_id"]).to_numpy()
    q = pd.concat(quality)
    return PlantedPreferences(
        pairs[keep].reset_index(drop=True),
        pd.concat(rankers, ignore_index=True).drop_duplicates(["group", "annotator"]),
        q[~q.index.duplicated()],
        np.concatenate(flips)[keep],
    )


# --------------------------------------------------------------------------- how well it finds flips


def _auroc(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if truth.all() or not truth.any():
        raise NotComputableError("AUROC needs both flipped and kept pairs")
    return float(roc_auc_score(truth, score))


def detection(truth: np.ndarray, p_flipped: np.ndarray, *, top: float = 0.1) -> dict:
    """How well ``p_flipped`` finds the pairs that ``truth`` marks: AUROC, precision and recall in the
    ``top`` share of pairs by p_flipped, and the mean p_flipped beside the true share."""
    truth = np.asarray(truth, dtype=bool)
    k = max(1, round(top * truth.size))
    best = np.argsort(-np.asarray(p_flipped), kind="stable")[:k]
    return {
        "auroc": _auroc(truth, p_flipped),
        f"precision_top_{top:g}": float(truth[best].mean()),
        f"recall_top_{top:g}": float(truth[best].sum() / max(truth.sum(), 1)),
        "mean_p_flipped": float(np.mean(p_flipped)),
        "true_share": float(truth.mean()),
        "n_pairs": int(truth.size),
    }


def self_check(
    pairs: pd.DataFrame,
    *,
    votes: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    margins: pd.DataFrame | None = None,
    rate: float = 0.1,
    top: float = 0.1,
    seed: int = 0,
    export_from_votes: bool = True,
) -> pd.DataFrame:
    """Plant flips in the user's own pairs and measure how well ``p_flipped`` finds them, per source
    and with all sources together.

    A ``rate`` share of the pairs (seeded) is reversed: chosen and rejected swap, so each ranker's vote
    on it, its Likert difference and its margin change sign. The model is refitted on the planted
    data and its ``p_flipped`` scored against the planted flips (AUROC, precision and recall in the
    ``top`` share). The pairs' own errors stay, so the figures are for finding planted flips on top
    of whatever noise the data has. A margin keeps the heads that were trained on the unplanted
    labels (refitting them per check would multiply the cost by the folds): a small optimism.
    """
    if not 0 < rate < 0.5:
        raise UsageError(f"rate must lie in (0, 0.5), got {rate}")
    rng = np.random.default_rng(seed)
    planted = rng.random(len(pairs)) < rate
    swapped = pairs.copy()
    swapped.loc[planted, ["chosen_id", "rejected_id"]] = pairs.loc[planted, ["rejected_id", "chosen_id"]].to_numpy()
    v = None
    if votes is not None and len(votes):
        v = votes.copy()
        hit = planted[v["pair"].to_numpy()]
        v.loc[hit, "agree"] = 1 - v.loc[hit, "agree"]
    m = None
    if margins is not None:
        m = margins.copy()
        m.loc[planted, "margin"] = -m.loc[planted, "margin"]
    gap = _gap_bucket(pairs)
    offered = {"votes": v, "quality": quality, "margin": m}
    rows = []
    present = [k for k, x in offered.items() if x is not None and len(x)]
    for name in [*present, "all"] if len(present) > 1 else present:
        kw = offered if name == "all" else {k: (x if k == name else None) for k, x in offered.items()}
        try:
            p, *_ = _posterior(swapped, kw["votes"], kw["quality"], kw["margin"], gap, from_votes=export_from_votes)
        except NotComputableError:
            continue
        rows.append({"source": name, **detection(planted, p, top=top), "planted_rate": rate, "seed": seed})
    if not rows:
        raise NotComputableError("no evidence source to check: give rankings, quality labels or margins")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- what cleaning buys


def _cleaned(p: np.ndarray, strategy: str, share: float):
    """(keep mask, flip mask, weights) for a cleaning strategy over pairs with flip probabilities p."""
    n = p.size
    keep, flip, weights = np.ones(n, bool), np.zeros(n, bool), None
    top = np.argsort(-p, kind="stable")[: round(share * n)]
    if strategy == "drop":
        keep[top] = False
    elif strategy == "flip":
        flip[top] = True
    elif strategy == "weight":
        weights = 1 - p
    return keep, flip, weights


STRATEGIES = (
    ("none", 0.0),
    ("drop", 0.05),
    ("drop", 0.10),
    ("drop", 0.20),
    ("flip", 0.05),
    ("flip", 0.10),
    ("flip", 0.20),
    ("weight", 1.0),
)


def cleaning_table(
    verdicts: PairVerdicts,
    chosen: np.ndarray,
    rejected: np.ndarray,
    *,
    truth: np.ndarray | None = None,
    strategies=STRATEGIES,
    folds: int = 5,
    seeds=(0, 1, 2),
    head: str = "linear",
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """What cleaning buys: for each (strategy, share), the expected remaining noise and the measured
    accuracy of a reward head retrained on the cleaned pairs.

    Strategies: ``drop`` the ``share`` most suspect pairs, ``flip`` them, or ``weight`` every pair by
    1 − p_flipped. ``chosen``/``rejected`` are the pairs' embeddings (frozen encoder, computed once).
    For each seed the pairs are dealt to ``folds`` folds by tree; a head trained on the cleaned pairs
    of the other folds scores each fold's pairs (its L2 penalty chosen once per fold on the uncleaned
    pairs, so every strategy gets the same). Accuracy is against ``truth`` (planted flips) when
    given; otherwise the expected accuracy against the latent true order, c(1 − p) + (1 − c)p per pair
    (c: the head agrees with the pair as labelled). Per pair the correctness is averaged over seeds;
    the interval is a percentile bootstrap over trees, and ``gain`` (against ``none``) is paired;
    an interval is None where the data gives none (one tree; ``none``'s gain against itself).
    The suspects come from p_flipped fitted on all pairs, test folds included (a mild optimism).
    """
    from .._util import row_interval
    from ..reward.frozen import train_head
    from ..reward.margins import tree_folds

    table = verdicts.table
    p = table["p_flipped"].to_numpy()
    groups = table["group"].to_numpy()
    n = len(p)
    correct = np.zeros((len(strategies), n))
    for seed in seeds:
        fold = tree_folds(groups, folds, seed=seed)
        for k in range(folds):
            test, train = fold == k, np.flatnonzero(fold != k)
            l2 = train_head(chosen[train], rejected[train], head=head, groups=groups[train], seed=seed).l2
            for j, (strategy, share) in enumerate(strategies):
                keep, flip, weights = _cleaned(p[train], strategy, share)
                rows = train[keep]
                swap = flip[keep][:, None]
                c, r = chosen[rows], rejected[rows]
                c, r = np.where(swap, r, c), np.where(swap, c, r)
                w = None if weights is None else weights[keep]
                fitted = train_head(c, r, head=head, l2=l2, seed=seed, weights=w)
                diff = fitted.reward(chosen[test]) - fitted.reward(rejected[test])
                correct[j, test] += (diff > 0) + 0.5 * (diff == 0)
    correct /= len(seeds)
    if truth is not None:
        t = np.asarray(truth, dtype=bool)
        right = np.where(t, 1 - correct, correct)
        basis = "planted truth"
    else:
        right = correct * (1 - p) + (1 - correct) * p
        basis = "expected under p_flipped"
    codes, uniques = pd.factorize(groups)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(uniques), size=(n_resamples, len(uniques)))
    w = np.zeros((n_resamples, len(uniques)))
    np.add.at(w, (np.repeat(np.arange(n_resamples), len(uniques)), draws.ravel()), 1)
    per_tree = np.stack([np.bincount(codes, weights=r, minlength=len(uniques)) for r in right])
    size = w @ np.bincount(codes, minlength=len(uniques))
    boot = (w @ per_tree.T) / size[:, None]  # resamples x strategies
    out = []
    for j, (strategy, share) in enumerate(strategies):
        keep, flip, weights = _cleaned(p, strategy, share)
        if strategy == "weight":
            expected = float((weights * p).sum() / weights.sum())
        else:
            expected = float(np.where(flip, 1 - p, p)[keep].mean())
        low, high, _ = row_interval(boot[:, j], confidence, len(uniques))
        dlow, dhigh, _ = row_interval(boot[:, j] - boot[:, 0], confidence, len(uniques))
        row = {
            "strategy": strategy,
            "share": share,
            "pairs_trained": int(keep.sum()),
            "expected_noise": expected,
            "accuracy": float(right[j].mean()),
            "accuracy_low": low,
            "accuracy_high": high,
            "gain": float(right[j].mean() - right[0].mean()),
            "gain_low": dlow,
            "gain_high": dhigh,
            "basis": basis,
        }
        if truth is not None:
            wrong = np.where(flip, ~t, t)[keep]
            row["true_noise"] = float(np.average(wrong, weights=None if weights is None else weights[keep]))
        out.append(row)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- from a dataset


def _all_pairs(datasets) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Pairs and reply quality of one or several Datasets (or their Tables); a pair two share is kept once."""
    from .. import adapter
    from ..reward import preference_data

    parts, quality = [], []
    for ds in datasets:
        parts.append(preference_data(ds))
        labels = adapter.labels(ds)
        if len(labels):
            quality.append(reply_quality(labels))
    pairs = pd.concat(parts, ignore_index=True)
    pairs = pairs[~pairs.duplicated(["chosen_id", "rejected_id"])].reset_index(drop=True)
    q = pd.concat(quality) if quality else None
    return pairs, (q[~q.index.duplicated()] if q is not None else None)


def suspect_pairs(
    data,
    *,
    rankings: pd.DataFrame | None = None,
    margins: bool = False,
    folds: int = 5,
    ensemble: int = 3,
    backbone: str | None = None,
    max_length: int = 128,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    n_resamples: int = 100,
    seed: int = 0,
) -> PairVerdicts:
    """``p_flipped`` for every pair the ranks of ``data`` (a Dataset, its Tables, or a list of them)
    imply, from the evidence it has: per-ranker ``rankings`` (``group, annotator, ranking``) when
    given, the replies' Likert quality when labelled, and, with ``margins=True``, reward margins
    cross-fitted by tree (``folds``, an ``ensemble`` of heads per fold; the frozen ``backbone`` embeds
    each pair once, or pass ``embeddings`` of ``verdicts.pairs``' rows). The embeddings used are
    kept in ``verdicts.embeddings`` for :func:`cleaning_table`."""
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    pairs, quality = _all_pairs(data if isinstance(data, (list, tuple)) else [data])
    if not len(pairs):
        raise NotComputableError("no preference pairs: the data has no reply set with two or more ranked replies")
    votes = ranker_votes(pairs, rankings) if rankings is not None and len(rankings) else None
    m, emb = None, None
    if margins or embeddings is not None:
        from ..reward.margins import cross_fitted_margins, pair_embeddings

        emb = embeddings or pair_embeddings(pairs, backbone=backbone, max_length=max_length)
        m = cross_fitted_margins(emb[0], emb[1], pairs["group"], folds=folds, ensemble=ensemble, seed=seed)
    verdicts = flip_model(pairs, votes=votes, quality=quality, margins=m, n_resamples=n_resamples, seed=seed)
    verdicts.embeddings = emb
    return verdicts


def summary(verdicts: PairVerdicts, *, cleaning: bool = True, top: int = 10, seed: int = 0) -> dict:
    """What the CLI and the report show: counts, the noise rate, what each source learned, the
    self-check (10 % flips planted in these pairs), the cleaning table (when the verdicts carry
    embeddings and ``cleaning``), and the ``top`` suspects with their evidence."""
    check = self_check(verdicts.pairs, **(verdicts.evidence or {}), seed=seed)
    out = {
        "n_pairs": verdicts.n_pairs,
        "n_suspect": int((verdicts.table["p_flipped"] >= 0.5).sum()),
        "noise_rate": verdicts.noise_rate.to_dict(),
        "sources": verdicts.sources,
        "rule": verdicts.rule,
        "self_check": check.to_dict(orient="records"),
        "cleaning": None,
        "top_suspects": verdicts.suspects(0.0).head(top).to_dict(orient="records"),
    }
    emb = getattr(verdicts, "embeddings", None)
    if cleaning and emb is not None:
        out["cleaning"] = cleaning_table(verdicts, emb[0], emb[1], seeds=(seed, seed + 1, seed + 2)).to_dict(
            orient="records"
        )
    return out


def preference_flags(verdicts: PairVerdicts, *, threshold: float = 0.5) -> pd.DataFrame:
    """``suspect_preference`` rows for the curation table (``message_id, kind, severity, label,
    evidence``): one per pair with p_flipped >= ``threshold``, on the reply ranked above its pair,
    severity medium from p_flipped 0.8 on, else low; the evidence names the other reply, p_flipped,
    the votes and the quality of both."""
    t = verdicts.suspects(threshold)
    if not len(t):
        return pd.DataFrame(columns=["message_id", "kind", "severity", "label", "evidence"])
    votes = np.where(
        t["votes_for"] + t["votes_against"] > 0,
        "votes " + t["votes_for"].astype(str) + " for / " + t["votes_against"].astype(str) + " against; ",
        "",
    )
    quality = np.where(
        t["quality_chosen"].notna() & t["quality_rejected"].notna(),
        "quality "
        + t["quality_chosen"].round(2).astype(str)
        + " vs "
        + t["quality_rejected"].round(2).astype(str)
        + "; ",
        "",
    )
    evidence = (
        "ranked above "
        + t["rejected"].astype(str)
        + " but p_flipped "
        + t["p_flipped"].round(2).astype(str)
        + " ("
        + votes
        + quality
        + t["evidence"].astype(str)
        + ")"
    )
    return pd.DataFrame(
        {
            "message_id": t["chosen"].to_numpy(),
            "kind": "suspect_preference",
            "severity": np.where(t["p_flipped"] >= 0.8, "medium", "low"),
            "label": None,
            "evidence": evidence.to_numpy(),
        }
    )


def report_section(verdicts: PairVerdicts, *, seed: int = 0, top: int = 10) -> dict:
    """The report's preference-pairs section: :func:`summary` with its tables as frames, and the flags."""
    out = summary(verdicts, seed=seed, top=top)
    out["self_check"] = pd.DataFrame(out["self_check"])
    out["cleaning"] = pd.DataFrame(out["cleaning"]) if out["cleaning"] else None
    out["top_suspects"] = pd.DataFrame(out["top_suspects"])
    out["flags"] = preference_flags(verdicts)
    return out
