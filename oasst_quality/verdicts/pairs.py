"""Suspect preference pairs: the probability that each pair's order is wrong, from all the evidence the data has."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import NotComputableError, UsageError
from ..estimate import Estimate

if TYPE_CHECKING:
    from ..adapter import Tables
    from ..dataset import Dataset
    from ..engine import Engine

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
    per-ranker table (``group, annotator, ranking``: ids best first, a tied position as a set, tuple
    or list of ids).
    """
    missing = [c for c in (group, annotator, "ranking") if c not in rankings.columns]
    if missing:
        have = list(rankings.columns)
        raise UsageError(f"rankings lack {missing} (they have {have}); need group, annotator, ranking")
    from ..consensus import ballot_rows

    rows, item, level = ballot_rows(rankings["ranking"])
    long = pd.DataFrame(
        {
            "parent": rankings[group].to_numpy()[rows],
            "annotator": rankings[annotator].to_numpy()[rows],
            "item": item,
            "level": level,
        }
    )
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

#: Latent states of a pair: kept (the export's order is right) or flipped, at true rank gap 1, 2, 3+.
N_STATES = 2 * GAP_BUCKETS
#: Reply sets up to this size get a latent order (every order enumerated); a larger set's pairs each
#: get a latent flip of their own (9! orders would cost more than the rare set is worth).
MAX_SET = 7


@dataclass
class _Sets:
    """The reply sets' latent true orders. Each block holds sets of one size: ``slot_pair`` (sets x
    slots: the pair in each slot, ``n`` for an empty slot) and ``states`` (sets x orders x slots: the
    state each order gives each pair, flipped * GAP_BUCKETS + gap bucket). ``weight``: 2/k per pair of
    a k-reply set, the composite-likelihood weight of a continuous source (k values give k − 1
    independent differences, not k(k − 1)/2)."""

    blocks: list
    n: int
    weight: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, pairs: pd.DataFrame) -> _Sets:
        from itertools import permutations

        n = len(pairs)
        long = pd.DataFrame(
            {
                "pair": np.r_[np.arange(n), np.arange(n)],
                "parent": np.r_[pairs["parent"].to_numpy(), pairs["parent"].to_numpy()],
                "item": np.r_[pairs["chosen_id"].to_numpy(), pairs["rejected_id"].to_numpy()],
            }
        )
        items = long.drop_duplicates(["parent", "item"]).copy()
        items["local"] = items.groupby("parent", sort=False).cumcount()
        long = long.merge(items[["parent", "item", "local"]], on=["parent", "item"], how="left")
        c, r = long["local"].to_numpy()[:n], long["local"].to_numpy()[n:]
        size = items.groupby("parent", sort=False).size()
        k = pairs["parent"].map(size).to_numpy(dtype=np.int64)
        gap = _gap_bucket(pairs)
        blocks = []
        for kk in np.unique(k):
            at = np.flatnonzero(k == kk)
            if kk > MAX_SET:  # one latent flip per pair, at the export's gap
                states = np.stack([gap[at], GAP_BUCKETS + gap[at]], axis=1)[:, :, None]
                blocks.append((at[:, None], states))
                continue
            codes = pd.factorize(pairs["parent"].to_numpy()[at])[0]
            slot = pd.Series(codes).groupby(codes).cumcount().to_numpy()
            slot_pair = np.full((codes.max() + 1, slot.max() + 1), n)
            slot_pair[codes, slot] = at
            lc, lr = np.zeros(slot_pair.shape, int), np.ones(slot_pair.shape, int)
            lc[codes, slot], lr[codes, slot] = c[at], r[at]
            pos = np.array(list(permutations(range(kk))))  # order x item: the item's position
            pc, pr = pos[:, lc].transpose(1, 0, 2), pos[:, lr].transpose(1, 0, 2)
            states = (pc > pr) * GAP_BUCKETS + np.clip(np.abs(pc - pr), 1, GAP_BUCKETS) - 1
            blocks.append((slot_pair, states))
        return cls(blocks, n, 2 / k, k)

    def posterior(self, ll: np.ndarray) -> np.ndarray:
        """Per pair, the posterior of each state (pairs x states) given each pair's log-likelihood per
        state, every order of a set being equally likely a priori."""
        pad = np.vstack([ll, np.zeros((1, N_STATES))])
        q = np.zeros((self.n + 1) * N_STATES)
        for slot_pair, states in self.blocks:
            lp = pad[slot_pair[:, None, :], states].sum(axis=-1)  # sets x orders
            post = np.exp(lp - lp.max(axis=1, keepdims=True))
            post /= post.sum(axis=1, keepdims=True)
            index = slot_pair[:, None, :] * N_STATES + states
            q += np.bincount(index.ravel(), np.broadcast_to(post[..., None], states.shape).ravel(), q.size)
        return q.reshape(-1, N_STATES)[:-1]


def _by_state(kept: np.ndarray, flipped: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Sum per-row log-likelihoods (rows x gap buckets, kept and flipped) into pairs x states."""
    per = np.hstack([kept, flipped])
    return np.stack([np.bincount(rows, per[:, s], n) for s in range(N_STATES)], axis=1)


@dataclass
class _Continuous:
    """A symmetric Gaussian source: x | kept at gap g ~ N(mu[g], s²), x | flipped ~ N(−mu[g], s²),
    s² = tau² + kappa·v (v: the pair's own known variance share, from vote counts or an ensemble's
    spread), weighted by the set's composite weight ``cw``."""

    x: np.ndarray  # NaN where absent
    v: np.ndarray
    cw: np.ndarray
    mu: np.ndarray = field(default_factory=lambda: np.zeros(GAP_BUCKETS))
    tau2: float = 0.01
    kappa: float = 0.01

    def __post_init__(self):
        self.ok = np.isfinite(self.x)
        self.rows = np.flatnonzero(self.ok)
        self.xs, self.vs, self.cws = self.x[self.ok], self.v[self.ok], self.cw[self.ok]
        s2 = _TAU2[:, None] + _KAPPA[:, None] * self.vs[None, :]  # grid x pairs: the variances the M-step weighs
        self.grid = _Fixed(inverse=1 / s2, log=np.log(s2))
        self.grid.inverse_x = self.grid.inverse * self.xs

    def ll(self) -> np.ndarray:
        s2 = (self.tau2 + self.kappa * self.vs)[:, None]
        x = self.xs[:, None]
        w = self.cws[:, None] / (2 * s2)
        return _by_state(-w * (x - self.mu) ** 2, -w * (x + self.mu) ** 2, self.rows, self.x.size)

    def m_step(self, q: np.ndarray, weight: np.ndarray) -> None:
        """Weighted maximum likelihood: mu per gap in closed form for every (tau², kappa) of a log grid."""
        qq = q[self.ok] * (weight[self.ok] * self.cws)[:, None]
        plus, minus = qq[:, :GAP_BUCKETS], qq[:, GAP_BUCKETS:]
        iw = self.grid.inverse  # grid x pairs, fixed: 1 / s², x / s² and log s² below
        signed, both = self.grid.inverse_x @ (plus - minus), iw @ (plus + minus)  # grid x gaps
        mu = np.maximum(np.divide(signed, both, out=np.zeros_like(both), where=both > 0), 0.0)
        total = qq.sum(axis=1)
        spread = 0.5 * (self.grid.log @ total + iw @ (total * self.xs**2))
        nll = spread - (signed * mu).sum(1) + 0.5 * (both * mu**2).sum(1)
        best = int(np.argmin(nll))
        self.tau2, self.kappa, self.mu = float(_TAU2[best]), float(_KAPPA[best]), mu[best]

    def start(self, weight: np.ndarray) -> None:
        """Fit from posteriors that lean on the sign of x (from a flat start one broad Gaussian absorbs
        both components: a poor local optimum)."""
        from scipy.special import expit

        p = expit(-1.4 - 1.5 * np.sign(np.nan_to_num(self.x)))
        q = np.repeat(np.stack([1 - p, p], axis=1), GAP_BUCKETS, axis=1) / GAP_BUCKETS
        self.m_step(q, weight)


_GRID = np.logspace(-5, 1, 9)
_TAU2, _KAPPA = (g.ravel() for g in np.meshgrid(_GRID, np.concatenate([[0.0], _GRID])))


class _Fixed:
    """Arrays a source derives once from its data and never changes: the bootstrap's copies of the
    sources (``deepcopy``) share them instead of copying them."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    def __deepcopy__(self, memo: dict) -> _Fixed:
        return self


@dataclass
class _Votes:
    """Each ranker's ballot on a set is a weighted Mallows draw around the set's true order: a ballot
    that reverses d[g] pairs at true rank gap g (1, 2, 3+: close replies are harder) has probability
    exp(−Σ theta[ranker, g]·d[g]) / Z, Z summing over every order of the set's replies (so a ballot
    is one ordering, not independent coins on pairs that must agree with each other). A ballot that
    orders only some of the set's pairs (ties, a subset) counts each vote as a ballot on two replies.
    theta is at least 0 (chance: no adversaries) and shrunk toward the pooled theta with a Gaussian
    penalty of ``prior``."""

    pair: np.ndarray
    who: np.ndarray
    agree: np.ndarray
    n_pairs: int
    ballot_size: np.ndarray  # per vote: its ballot's number of replies when the ballot is whole, else 2
    names: np.ndarray  # the rankers' names, by code
    prior: float = 1.0

    def __post_init__(self):
        self.n_rankers = int(self.who.max()) + 1 if self.who.size else 0
        self.theta = np.full((self.n_rankers, GAP_BUCKETS), 0.85)
        self.whole = self.ballot_size > 2
        self.sizes = [k for k in range(3, MAX_SET + 1) if (self.ballot_size == k).any()]
        # a whole ballot of k replies has k(k − 1)/2 votes: each counts that share of one ballot
        self.ballot_share = 2 / (self.ballot_size * (self.ballot_size - 1))
        self.voted = np.bincount(self.pair, minlength=self.n_pairs) > 0
        self.fitted_accuracy = np.full(self.n_rankers, np.nan)  # each ranker's share of right votes, fitted

    def ll(self) -> np.ndarray:
        """Per pair and state, its votes' log-likelihood: −theta[gap] for each wrong vote; a vote of a
        partial ballot also pays its own normalizer log(1 + exp(−theta))."""
        t = self.theta[self.who]
        norm = np.where(self.whole[:, None], 0.0, np.log1p(np.exp(-t)))
        yes = (self.agree == 1)[:, None]
        return _by_state(np.where(yes, 0.0, -t) - norm, np.where(yes, -t, 0.0) - norm, self.pair, self.n_pairs)

    def _stats(self, q: np.ndarray, weight: np.ndarray):
        """Per ranker: the expected wrong votes per gap, the expected votes per gap of partial ballots,
        and the number of whole ballots per size."""
        w = weight[self.pair]
        qv = q[self.pair] * w[:, None]
        yes = (self.agree == 1)[:, None]
        wrong = np.where(yes, qv[:, GAP_BUCKETS:], qv[:, :GAP_BUCKETS])  # P(the vote is wrong, gap)
        loose = (qv[:, :GAP_BUCKETS] + qv[:, GAP_BUCKETS:]) * ~self.whole[:, None]

        def per_ranker(x):
            return np.bincount(self.who, x, self.n_rankers)

        whole = {k: per_ranker(w * self.ballot_share * (self.ballot_size == k)) for k in self.sizes}
        return np.stack([per_ranker(x) for x in wrong.T], 1), np.stack([per_ranker(x) for x in loose.T], 1), whole

    @staticmethod
    def _newton(theta, wrong, loose, whole, prior, centre, steps=4):
        """Minimize θ·wrong + Σ_k n_k log Z_k(θ) + Σ_g loose_g log(1 + e^(−θ_g)) + prior/2 |θ − centre|²
        per row (ranker) by Newton steps, θ >= 0."""
        eye = np.eye(GAP_BUCKETS)
        for _ in range(steps):
            a = 1 / (1 + np.exp(-theta))
            grad = wrong - loose * (1 - a) + prior * (theta - centre)
            hess = eye * (loose * a * (1 - a) + prior + 1e-9)[:, :, None]
            for k, n in whole.items():
                rows = np.flatnonzero(n > 0)
                mean, second = _mallows_moments(theta[rows], k)
                grad[rows] -= n[rows, None] * mean
                hess[rows] += n[rows, None, None] * (second - mean[:, :, None] * mean[:, None, :])
            theta = np.clip(theta - np.linalg.solve(hess, grad[:, :, None])[:, :, 0], 0.0, 20.0)
        return theta

    def m_step(self, q: np.ndarray, weight: np.ndarray) -> None:
        wrong, loose, whole = self._stats(q, weight)
        total = {k: n.sum(keepdims=True) for k, n in whole.items()}
        start = self.theta.mean(axis=0, keepdims=True)
        pooled = self._newton(start, wrong.sum(0, keepdims=True), loose.sum(0, keepdims=True), total, 0.0, 0.0)
        self.theta = self._newton(self.theta, wrong, loose, whole, self.prior, pooled)
        # the share of its votes a ranker gets right under the fitted model
        votes = loose.sum(axis=1) + sum(n * k * (k - 1) / 2 for k, n in whole.items())
        expected_wrong = (loose / (1 + np.exp(self.theta))).sum(axis=1)
        for k, n in whole.items():
            expected_wrong += n * _mallows_moments(self.theta, k)[0].sum(axis=1)
        self.fitted_accuracy = 1 - expected_wrong / np.maximum(votes, 1e-9)


def _discordance(k: int) -> np.ndarray:
    """Per order of k replies (as :func:`itertools.permutations` lists them: the position of each
    reply), how many pairs it reverses at each gap bucket of the true order."""
    from itertools import combinations, permutations

    pos = np.array(list(permutations(range(k))))
    out = np.zeros((len(pos), GAP_BUCKETS))
    for i, j in combinations(range(k), 2):
        out[:, min(j - i, GAP_BUCKETS) - 1] += pos[:, i] > pos[:, j]
    return out


_DISCORD = {k: _discordance(k) for k in range(3, MAX_SET + 1)}
_DISCORD2 = {k: np.einsum("og,oh->ogh", d, d).reshape(len(d), -1) for k, d in _DISCORD.items()}


def _mallows_moments(theta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``theta`` (rows x gap buckets), the mean (rows x gaps) and second moments (rows x
    gaps x gaps) of the reversed-pair counts of a k-reply ballot."""
    d = _DISCORD[k]
    lw = -theta @ d.T
    p = np.exp(lw - lw.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p @ d, (p @ _DISCORD2[k]).reshape(-1, GAP_BUCKETS, GAP_BUCKETS)


@dataclass
class _Export:
    """The export's own order as a ranker on the pairs ``on``: right with probability a[gap] (the
    noise rate is 1 − a), at least 1/2."""

    on: np.ndarray
    acc: np.ndarray = field(default_factory=lambda: np.full(GAP_BUCKETS, 0.8))

    def __post_init__(self):
        self.rows = np.flatnonzero(self.on)

    def ll(self) -> np.ndarray:
        a = np.broadcast_to(self.acc, (self.rows.size, GAP_BUCKETS))
        return _by_state(np.log(a), np.log(1 - a), self.rows, self.on.size)

    def m_step(self, q: np.ndarray, weight: np.ndarray) -> None:
        qq = q[self.on] * weight[self.on][:, None]
        kept, n = qq[:, :GAP_BUCKETS].sum(0), (qq[:, :GAP_BUCKETS] + qq[:, GAP_BUCKETS:]).sum(0)
        fit = np.divide(kept, n, out=self.acc.copy(), where=n > 1e-9)
        self.acc = np.clip(fit, 0.5, 1 - 1e-4)


def _fit_em(sets: _Sets, sources: dict, weight: np.ndarray, *, max_iter=200, tol=1e-6, start=True):
    """EM over the sets' latent orders: returns (state posteriors, iterations). ``weight`` (per pair:
    a bootstrap's tree multiplicities) weights every M-step; ``start=False`` continues from the
    sources' present parameters (a bootstrap refit starts where the full fit ended)."""
    if start:
        for s in sources.values():
            if isinstance(s, _Continuous):
                s.start(weight)
    p = np.full(sets.n, np.inf)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        q = sets.posterior(sum(s.ll() for s in sources.values()))
        for s in sources.values():
            s.m_step(q, weight)
        new = q[:, GAP_BUCKETS:].sum(axis=1)
        done = np.max(np.abs(new - p)) < tol
        p = new
        if done:
            break
    return sets.posterior(sum(s.ll() for s in sources.values())), iterations


def _source_llr(source, q: np.ndarray) -> np.ndarray:
    """A source's log-likelihood ratio, flipped against kept, per pair (gaps weighted by the posterior)."""
    ll = source.ll()
    gap = q[:, :GAP_BUCKETS] + q[:, GAP_BUCKETS:]
    return ((ll[:, GAP_BUCKETS:] - ll[:, :GAP_BUCKETS]) * gap).sum(axis=1)


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
        if not {"chosen", "rejected"} <= set(self.pairs.columns):
            raise UsageError(
                "these verdicts' pairs hold ids, not texts (judged on an engine): add the texts with "
                "reward.data.with_texts(engine, verdicts.pairs), or judge the Dataset"
            )
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


def _build_sources(pairs, votes, quality, margins, sets):
    n, cw = len(pairs), sets.weight
    sources: dict = {}
    if votes is not None and len(votes):
        codes, names = pd.factorize(votes["annotator"])
        pair = votes["pair"].to_numpy(np.int64)
        size = _ballot_size(pairs, pair, codes, sets.size)
        sources["votes"] = _Votes(pair, codes, votes["agree"].to_numpy(np.int8), n, size, np.asarray(names))
    if quality is not None and len(quality):
        qc = quality.reindex(pairs["chosen_id"].to_numpy())
        qr = quality.reindex(pairs["rejected_id"].to_numpy())
        x = qc["value"].to_numpy() - qr["value"].to_numpy()
        v = 1 / qc["count"].to_numpy() + 1 / qr["count"].to_numpy()
        if np.isfinite(x).sum() >= 10:
            sources["quality"] = _Continuous(x, np.nan_to_num(v, nan=1.0), cw)
    if margins is not None:
        x = np.asarray(margins["margin"], dtype=float)
        v = np.asarray(margins["margin_sd"], dtype=float) ** 2 if "margin_sd" in margins else np.zeros(n)
        if np.isfinite(x).sum() >= 10:
            sources["margin"] = _Continuous(x, np.nan_to_num(v, nan=0.0), cw)
    return sources


def _ballot_size(pairs: pd.DataFrame, pair: np.ndarray, who: np.ndarray, set_size: np.ndarray) -> np.ndarray:
    """Per vote, the number of replies of its ballot (one ranker on one set) when the ballot orders
    every pair of a set of 3 to :data:`MAX_SET` replies; 2 (a ballot of its own) otherwise."""
    ballot = pd.factorize(pd.MultiIndex.from_arrays([pairs["parent"].to_numpy()[pair], who]))[0]
    votes = np.bincount(ballot)[ballot]
    k = set_size[pair]
    whole = (votes == k * (k - 1) // 2) & (k >= 3) & (k <= MAX_SET)
    return np.where(whole, k, 2)


def _model(pairs, votes, quality, margins, from_votes=True) -> tuple[_Sets, dict]:
    """The latent orders of ``pairs``' sets and the evidence sources on them. The export's order is a
    source on the sets without votes (on every set unless ``from_votes``)."""
    sets = _Sets.of(pairs)
    sources = _build_sources(pairs, votes, quality, margins, sets)
    if not sources:
        raise NotComputableError(
            "no evidence on any pair: give per-ranker rankings, Likert quality labels or reward margins"
        )
    on = np.ones(len(pairs), dtype=bool)
    if "votes" in sources and from_votes:
        on = ~pd.Series(sources["votes"].voted).groupby(pairs["parent"].to_numpy()).transform("any").to_numpy()
    if on.any():
        sources["export"] = _Export(on)
    return sets, sources


def _posterior(pairs, votes, quality, margins, max_iter=200, from_votes=True):
    sets, sources = _model(pairs, votes, quality, margins, from_votes)
    q, iterations = _fit_em(sets, sources, np.ones(len(pairs)), max_iter=max_iter)
    return q, sets, sources, iterations


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
    """Fit the latent-order model to the evidence on ``pairs`` and return every pair's ``p_flipped``.

    Each reply set has a latent true order (every order of its replies equally likely a priori); a
    pair is flipped when the true order puts its rejected reply above its chosen one. Given the
    order the sources are independent: each ranker's vote on two replies agrees with their true
    order with that ranker's learned accuracy at their true rank gap (``votes``, from
    :func:`ranker_votes`); the replies' Likert difference (``quality``, from :func:`reply_quality`) is
    Gaussian around +mu[gap] (kept) or −mu[gap] (flipped) with a variance that grows with 1/count of
    each reply's votes; the cross-fitted reward margin (``margins``: ``margin, margin_sd``) likewise,
    its variance growing with the ensemble's spread; the two continuous sources enter with the
    composite weight 2/k of a k-reply set. EM fits every source's parameters; sources absent for a
    pair are left out of its posterior, not imputed. ``export_from_votes`` (default, as in OASST,
    whose ranks are the consensus of the rankers): the export's order is no evidence on a set with
    votes (it was made from them), and a source on the sets without (right with a learned accuracy
    per gap); set it False when the export's labels were made apart from the rankings given.
    The noise rate (mean p_flipped) has a percentile bootstrap over trees (``n_resamples`` EM
    refits with the trees' multiplicities as weights, seeded).
    """
    if not len(pairs):
        raise NotComputableError("no preference pairs: the data has no reply set with two or more ranked replies")
    from .._util import one_blas_thread

    with one_blas_thread():  # products of a grid x pairs array with a few columns: no pool to wake
        q, sets, sources, iterations = _posterior(pairs, votes, quality, margins, max_iter, export_from_votes)
        p = q[:, GAP_BUCKETS:].sum(axis=1)
        n = len(pairs)
        noise = _noise_interval(pairs, sets, sources, p, n_resamples, confidence, seed, votes)
    llrs = {k: _source_llr(s, q) for k, s in sources.items() if k in SOURCES}
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
            {"annotator": s.names, "votes": np.bincount(s.who, minlength=s.n_rankers), "accuracy": s.fitted_accuracy}
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
        if k not in SOURCES:
            continue
        info: dict = {"n_pairs": int(np.count_nonzero(llrs[k])), "mean_abs_llr": float(np.abs(llrs[k]).mean())}
        if isinstance(s, _Continuous):
            info.update(mu_by_gap=[float(m) for m in s.mu], tau2=s.tau2, kappa=s.kappa)
        else:
            info.update(n_votes=int(s.pair.size), n_rankers=s.n_rankers)
        summary[k] = info
    rule = (
        "p_flipped = P(the pair's order is wrong | votes, Likert quality, reward margin) under a latent "
        "order per reply set fitted by EM; a pair is suspect when p_flipped >= 0.5"
    )
    evidence = {"votes": votes, "quality": quality, "margins": margins, "export_from_votes": export_from_votes}
    return PairVerdicts(table[list(TABLE_COLUMNS)], noise, summary, rankers, pairs, iterations, rule, evidence=evidence)


def _noise_interval(pairs, sets, sources, p, n_resamples, confidence, seed, votes) -> Estimate:
    """The noise rate (mean p_flipped) with a percentile bootstrap over trees: each resample refits EM
    with the trees' multiplicities as pair weights, from the full fit's parameters."""
    from copy import deepcopy

    from .._util import bootstrap_estimate

    codes, uniques = pd.factorize(pairs["group"])
    n_trees = len(uniques)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_resamples):
        weight = np.bincount(rng.integers(0, n_trees, n_trees), minlength=n_trees)[codes].astype(float)
        q, _ = _fit_em(sets, deepcopy(sources), weight, max_iter=50, tol=3e-3, start=False)
        stats.append(float(q[:, GAP_BUCKETS:].sum(axis=1) @ weight / weight.sum()))
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
    noise: float = 1.4,
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
        # ties broken by the order the replies were shown in (random), never by the true order
        merged = borda(ballots, candidates=[order[i] for i in rng.permutation(k)])
        reversed_ = bool(rng.random() < reverse)
        export.append((g, tuple(merged[::-1] if reversed_ else merged), reversed_))
    return (
        pd.DataFrame(per_ranker, columns=["group", "annotator", "ranking"]),
        pd.DataFrame(export, columns=["group", "ranking", "reversed"]),
    )


def with_ranks(dataset: Dataset | Tables, export: pd.DataFrame) -> Dataset | Tables:
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


def planted_preferences(
    datasets: Iterable[Dataset | Tables], *, noise: float = 1.4, reverse: float = 0.1, seed: int = 0
) -> PlantedPreferences:
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
    pairs, keep, q = _merged(parts, quality)
    rankers = pd.concat(rankers, ignore_index=True).drop_duplicates(["group", "annotator"])
    return PlantedPreferences(pairs, rankers, q, np.concatenate(flips)[keep])


def _merged(
    parts: list[pd.DataFrame], quality: list[pd.DataFrame]
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None]:
    """Several datasets' pairs with a pair two share (the same chosen and rejected ids) kept once, which
    of the concatenated rows were kept, and the replies' quality with each reply once (None without)."""
    pairs = pd.concat(parts, ignore_index=True)
    keep = ~pairs.duplicated(["chosen_id", "rejected_id"]).to_numpy()
    q = pd.concat(quality) if quality else None
    return pairs[keep].reset_index(drop=True), keep, (q[~q.index.duplicated()] if q is not None else None)


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
    offered = {"votes": v, "quality": quality, "margin": m}
    rows = []
    present = [k for k, x in offered.items() if x is not None and len(x)]
    for name in [*present, "all"] if len(present) > 1 else present:
        kw = offered if name == "all" else {k: (x if k == name else None) for k, x in offered.items()}
        try:
            q, *_ = _posterior(swapped, kw["votes"], kw["quality"], kw["margin"], from_votes=export_from_votes)
        except NotComputableError:
            continue
        p = q[:, GAP_BUCKETS:].sum(axis=1)
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
    strategies: Sequence[tuple[str, float]] = STRATEGIES,
    folds: int = 5,
    seeds: Sequence[int] = (0, 1, 2),
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
    from ..reward.frozen import train_head
    from ..reward.margins import tree_folds
    from ..reward.study import _TreeBootstrap

    table = verdicts.table
    p = table["p_flipped"].to_numpy()
    groups = table["group"].to_numpy()
    n = len(p)
    correct = np.zeros((len(strategies), n))
    for seed in seeds:
        fold = tree_folds(groups, folds, seed=seed)
        for k in range(folds):
            test, train = fold == k, np.flatnonzero(fold != k)
            # the head that chose the L2 penalty was trained on the uncleaned pairs: it is ``none``'s head
            uncleaned = train_head(chosen[train], rejected[train], head=head, groups=groups[train], seed=seed)
            for j, (strategy, share) in enumerate(strategies):
                if strategy == "none":
                    fitted = uncleaned
                else:
                    keep, flip, weights = _cleaned(p[train], strategy, share)
                    rows = train[keep]
                    swap = flip[keep][:, None]
                    c, r = chosen[rows], rejected[rows]
                    c, r = np.where(swap, r, c), np.where(swap, c, r)
                    w = None if weights is None else weights[keep]
                    fitted = train_head(c, r, head=head, l2=uncleaned.l2, seed=seed, weights=w)
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
    boot = _TreeBootstrap(pd.Series(groups), n_resamples, confidence, seed=0)
    out = []
    for j, (strategy, share) in enumerate(strategies):
        keep, flip, weights = _cleaned(p, strategy, share)
        if strategy == "weight":
            expected = float((weights * p).sum() / weights.sum())
        else:
            expected = float(np.where(flip, 1 - p, p)[keep].mean())
        low, high = boot.interval(right[j])
        dlow, dhigh = boot.interval(right[j] - right[0])
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
    pairs, _, q = _merged(parts, quality)
    return pairs, q


def _partition_evidence(ds: Dataset, t: Tables, margins: bool, backbone: str | None, max_length: int) -> list:
    """One partition's evidence: its pairs (ids and ranks, in the partition's order), its replies'
    Likert quality (None without labels), its rankers' votes on the pairs (``pair``: the partition's
    row; None without rankings attached) and, with ``margins``, the pairs' (chosen, rejected)
    embeddings by the frozen ``backbone``."""
    from .. import adapter
    from ..reward import preference_data

    pairs = preference_data(t, texts=margins)
    labels = adapter.labels(t)
    quality = reply_quality(labels) if len(labels) else None
    rankings = ds.annotations.rankings if ds.annotations is not None else None
    votes = ranker_votes(pairs, rankings) if rankings is not None and len(rankings) else None
    emb = None
    if margins:
        from ..reward.margins import pair_embeddings

        emb = pair_embeddings(pairs, backbone=backbone, max_length=max_length) if len(pairs) else None
        pairs = pairs.drop(columns=["prompt", "chosen", "rejected"])
    return [(pairs, quality, votes, emb)]


def _joined_evidence(pieces: list) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, tuple | None]:
    """The partitions' evidence (:func:`_partition_evidence`, in partition order) as one dataset's:
    the pairs in the order one Dataset lists them (by parent id, each set's pairs in the partition's
    order: partitions hold whole trees), a pair two partitions share kept once, the votes renumbered
    to those rows (a dropped copy's with it) and sorted as :func:`ranker_votes` sorts them, the
    quality of each reply once, and the embeddings in the pairs' order."""
    from ..reward.data import dataset_order, joined

    pairs = joined([p for p, *_ in pieces])
    start = np.cumsum([0] + [len(p) for p, *_ in pieces])
    order = dataset_order(pairs["parent"])
    ordered = pairs.iloc[order]
    keep = ~ordered.duplicated(["chosen_id", "rejected_id"]).to_numpy()
    row = np.empty(order.size, dtype=np.int64)  # each concatenated pair's row among the kept, -1 if dropped
    row[order] = np.where(keep, np.cumsum(keep) - 1, -1)
    voted = [v.assign(pair=row[v["pair"].to_numpy() + at]) for at, (_, _, v, _) in zip(start, pieces) if v is not None]
    votes = None
    if voted:
        votes = pd.concat(voted, ignore_index=True)
        votes = votes[votes["pair"] >= 0].sort_values(["pair", "annotator"], kind="stable").reset_index(drop=True)
    embedded = [e for *_, e in pieces if e is not None]
    emb = None
    if embedded:
        emb = tuple(np.concatenate([e[side] for e in embedded])[order][keep] for side in (0, 1))
    pairs, _, quality = _merged([ordered], [q for _, q, _, _ in pieces if q is not None])
    return pairs, quality, votes, emb


def suspect_pairs(
    data: Dataset | Tables | Sequence[Dataset | Tables] | Engine,
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
    kept in ``verdicts.embeddings`` for :func:`cleaning_table`.

    ``data`` may be an engine of partitions (:mod:`oasst_quality.engine`: in memory, or Dask): each
    partition then finds its pairs, its replies' quality, its rankers' votes from the rankings
    attached to it (not ``rankings``) and, with ``margins``, its pairs' embeddings, and only these
    reach the caller, where the model is fitted: the same pairs in the same order, so the same
    verdicts, as from the one Dataset (with margins, up to the embeddings' rounding, which depends
    on the texts batched together). ``verdicts.pairs`` then holds ids and ranks, not texts.
    """
    if folds < 2:
        raise UsageError(f"folds must be at least 2, got {folds}")
    votes = emb = None
    if hasattr(data, "map_reduce"):
        if rankings is not None or embeddings is not None:
            raise UsageError("on an engine, the rankings attached to its partitions are used, and margins embed there")
        pieces = data.map_reduce(_partition_evidence, margins, backbone, max_length)
        pairs, quality, votes, emb = _joined_evidence(pieces)
    else:
        pairs, quality = _all_pairs(data if isinstance(data, (list, tuple)) else [data])
    if not len(pairs):
        raise NotComputableError("no preference pairs: the data has no reply set with two or more ranked replies")
    if rankings is not None and len(rankings):
        votes = ranker_votes(pairs, rankings)
    m = None
    if margins or embeddings is not None:
        from ..reward.margins import cross_fitted_margins, pair_embeddings

        emb = embeddings or emb or pair_embeddings(pairs, backbone=backbone, max_length=max_length)
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
