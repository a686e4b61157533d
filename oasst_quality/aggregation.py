"""Aggregating labels: from plain means to models of annotator reliability.

Estimators follow one scikit-learn-like interface over the long annotation table (columns
``item``, ``annotator``, ``value`` by default; other names by keyword, so crowd-kit's ``task,
worker, label`` works): ``fit(df)`` returns the estimator, ``fit_predict(df)`` a Series indexed
by item, ``fit_predict_proba(df)`` (where it makes sense) a DataFrame items x classes, and after
fitting ``annotator_reliability_`` holds a Series indexed by annotator. Every EM loop is
vectorized: ratings are arrays, and sums over an item's or an annotator's ratings are sparse
products, never pandas group-bys.

For OASST's published aggregates (mean and count per label), :mod:`oasst_quality.published` gives
each message's posterior mean and posterior interval and tests for the backend's habit of storing
unanswered Likert labels as 0.

References
----------
Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates using
the EM algorithm. J. R. Stat. Soc. C 28(1).
Hovy, D., Berg-Kirkpatrick, T., Vaswani, A. & Hovy, E. (2013). Learning whom to trust with MACE.
NAACL-HLT.
Casella, G. (1985). An introduction to empirical Bayes data analysis. Am. Stat. 39(2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize, special, stats

from ._util import narrow_ints, normalize_class_major, one_blas_thread, unique_rows
from .coding import Ratings, encode
from .errors import NotComputableError, UsageError
from .schema import LIKERT_GRID


def _code(df: pd.DataFrame, item: str, annotator: str, value: str) -> Ratings:
    """The estimators' :class:`~oasst_quality.coding.Ratings` of a long table (items and annotators sorted)."""
    c = encode(df, item=item, annotator=annotator, value=value)
    if not c.item.size:
        raise NotComputableError("no annotations to aggregate")
    return c


class Aggregator:
    """Base class: column names, ``seed``, and the fit/predict plumbing.

    ``_bounds`` lists (parameter, low, high), the closed interval each numeric parameter must lie
    in; ``fit`` checks them (as scikit-learn does), so a bad setting fails with its name instead
    of giving a silent nonsense fit.
    """

    _bounds: tuple[tuple[str, float, float], ...] = ()

    def __init__(
        self, *, item: str = "item", annotator: str = "annotator", value: str = "value", seed: int = 0
    ) -> None:
        self.item, self.annotator, self.value, self.seed = item, annotator, value, seed

    def _fit(self, c: Ratings) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, df: pd.DataFrame) -> Aggregator:
        self._check_bounds()
        return self.fit_ratings(_code(df, self.item, self.annotator, self.value))

    def fit_ratings(self, c: Ratings) -> Aggregator:
        """:meth:`fit` on votes coded already (:func:`oasst_quality.coding.encode`), so that several
        estimators fitted on one table code it once."""
        self._check_bounds()
        self._check_values(c)
        self._fit(c)
        return self

    def _check_bounds(self) -> None:
        for name, low, high in self._bounds:
            v = getattr(self, name)
            if not low <= v <= high:
                raise UsageError(f"{type(self).__name__}: {name} must lie in [{low}, {high}], got {v!r}")

    def fit_predict(self, df: pd.DataFrame) -> pd.Series:
        return self.fit(df).labels_

    def _check_values(self, c: Ratings) -> None:
        """Raise when the values do not suit the estimator (most take any values)."""

    def _set_reliability(self, values: np.ndarray, c: Ratings) -> None:
        self.annotator_reliability_ = pd.Series(values, index=c.annotators, name="reliability")


class _Categorical(Aggregator):
    def fit_predict_proba(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.fit(df).probas_

    def _finish(self, c: Ratings, probas: np.ndarray) -> None:
        self.classes_ = c.values
        self.probas_ = pd.DataFrame(probas, index=c.items, columns=c.values)
        rng = np.random.default_rng(self.seed)
        # ties between equally probable classes are broken at random, reproducibly
        noisy = probas + rng.random(probas.shape) * 1e-12 * (probas == probas.max(axis=1, keepdims=True))
        self.labels_ = pd.Series(c.values[noisy.argmax(axis=1)], index=c.items, name="label")


def _vote_shares(c: Ratings) -> np.ndarray:
    K = c.values.size
    counts = np.bincount(c.item * K + c.code, minlength=c.n_items * K).reshape(c.n_items, K).astype(float)
    return counts / counts.sum(axis=1, keepdims=True)


class MajorityVote(_Categorical):
    """The most frequent value per item (ties broken at random with ``seed``).

    Reliability: each annotator's share of labels equal to the majority.
    """

    def _fit(self, c: Ratings) -> None:
        shares = _vote_shares(c)
        self._finish(c, shares)
        winner = np.searchsorted(c.values, self.labels_.to_numpy())
        agree = (c.code == winner[c.item]).astype(float)
        n = np.bincount(c.annotator, minlength=c.n_annotators)
        self._set_reliability(np.bincount(c.annotator, agree, c.n_annotators) / n, c)


# --------------------------------------------------------------------------- numeric aggregates


def _loo_correlation(c: Ratings, values: np.ndarray) -> np.ndarray:
    """Each annotator's Pearson correlation with the mean of the others on the same items."""
    sums = np.bincount(c.item, values, minlength=c.n_items)
    counts = np.bincount(c.item, minlength=c.n_items)
    others = counts[c.item] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = np.where(others > 0, (sums[c.item] - values) / others, np.nan)
    out = np.full(c.n_annotators, np.nan)
    ok = ~np.isnan(loo)
    frame = pd.DataFrame({"a": c.annotator[ok], "x": values[ok], "y": loo[ok]})
    # one pass of grouped sums (not in an iteration loop)
    g = frame.assign(xy=frame.x * frame.y, xx=frame.x**2, yy=frame.y**2).groupby("a").sum()
    n = frame.groupby("a").size()
    cov = g.xy / n - (g.x / n) * (g.y / n)
    var = (g.xx / n - (g.x / n) ** 2) * (g.yy / n - (g.y / n) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[g.index.to_numpy()] = (cov / np.sqrt(var)).to_numpy()
    return out


def _sorted_within_items(c: Ratings, values: np.ndarray):
    order = np.lexsort((values, c.item))
    counts = np.bincount(c.item, minlength=c.n_items)
    starts = np.cumsum(counts) - counts
    rank = np.arange(order.size) - starts[c.item[order]]
    return order, counts, rank


class _Numeric(Aggregator):
    def _finish(self, c: Ratings, estimate: np.ndarray, values: np.ndarray | None = None) -> None:
        self.labels_ = pd.Series(estimate, index=c.items, name="estimate")
        self._set_reliability(_loo_correlation(c, c.value if values is None else values), c)


class Mean(_Numeric):
    """The mean value per item. Reliability: correlation with the other annotators' mean."""

    def _fit(self, c: Ratings) -> None:
        self._finish(c, np.bincount(c.item, c.value, c.n_items) / np.bincount(c.item, minlength=c.n_items))


class Median(_Numeric):
    """The median value per item."""

    def _fit(self, c: Ratings) -> None:
        order, counts, rank = _sorted_within_items(c, c.value)
        v, it = c.value[order], c.item[order]
        middle = (rank == (counts[it] - 1) // 2) | (rank == counts[it] // 2)
        self._finish(c, np.bincount(it[middle], v[middle], c.n_items) / np.bincount(it[middle], minlength=c.n_items))


class TrimmedMean(_Numeric):
    """The mean per item after cutting ``proportion`` of the values from each end (as scipy's trim_mean)."""

    _bounds = (("proportion", 0.0, 0.4999),)

    def __init__(self, proportion: float = 0.1, **kw) -> None:
        super().__init__(**kw)
        self.proportion = proportion

    def _fit(self, c: Ratings) -> None:
        order, counts, rank = _sorted_within_items(c, c.value)
        v, it = c.value[order], c.item[order]
        cut = np.floor(self.proportion * counts[it]).astype(int)
        keep = (rank >= cut) & (rank < counts[it] - cut)
        self._finish(c, np.bincount(it[keep], v[keep], c.n_items) / np.bincount(it[keep], minlength=c.n_items))


class ZScoreMean(_Numeric):
    """Mean of per-annotator z-scores, mapped back to the value scale.

    Each annotator's values are standardized with their own mean and standard deviation (an
    annotator with no spread contributes 0), which removes lenient/harsh and compressed/extreme
    habits; item means of z are then rescaled with the overall mean and standard deviation.
    """

    def _fit(self, c: Ratings) -> None:
        n = np.bincount(c.annotator, minlength=c.n_annotators)
        mean = np.bincount(c.annotator, c.value, c.n_annotators) / n
        var = np.bincount(c.annotator, (c.value - mean[c.annotator]) ** 2, c.n_annotators) / n
        sd = np.sqrt(var)
        z = np.divide(
            c.value - mean[c.annotator], sd[c.annotator], out=np.zeros_like(c.value), where=sd[c.annotator] > 0
        )
        item_z = np.bincount(c.item, z, c.n_items) / np.bincount(c.item, minlength=c.n_items)
        self._finish(c, c.value.mean() + c.value.std() * item_z, z)


# --------------------------------------------------------------------------- Bayesian shrinkage


def fit_beta_prior(successes: np.ndarray, trials: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Beta(a, b) prior for item rates by maximum marginal (beta-binomial) likelihood.

    ``weights``: how many items share each (successes, trials) row (default one each).
    """
    s, n = np.asarray(successes, float), np.asarray(trials, float)
    w = np.ones_like(s) if weights is None else np.asarray(weights, float)
    keep = n > 0
    s, n, w = s[keep], n[keep], w[keep]
    p = (w * s).sum() / (w * n).sum()
    if p in (0.0, 1.0):  # no variation: the likelihood has no maximum; use Jeffreys' prior
        return 0.5, 0.5
    # the likelihood depends on (s, n) only: sum over the distinct pairs, weighted by how often they occur
    first, inverse, _ = unique_rows(np.column_stack([s, n]))
    w = np.bincount(inverse, weights=w, minlength=first.size)
    s, n = s[first], n[first]

    def nll(theta):
        a, b = np.exp(theta)
        return -(w * (special.betaln(s + a, n - s + b) - special.betaln(a, b))).sum()

    start = np.log([p * 2, (1 - p) * 2])
    res = optimize.minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8})
    a, b = np.exp(res.x)
    return float(a), float(b)


class BayesianShrinkage(_Numeric):
    """Posterior means with equal-tailed posterior intervals, shrunk toward the label's prior (empirical Bayes).

    ``kind="flag"``: 0/1 votes, Beta-binomial (the Beta prior fitted by marginal likelihood).
    ``kind="likert"``: values on a bounded scale (default the OASST grid 0, .25, .5, .75, 1);
    each vote is Binomial(steps, p_item) with p_item ~ Beta (fitted likewise), so an item with one
    vote is pulled toward the label's typical value and one with many votes stays near its mean.
    ``intervals_`` holds the equal-tailed posterior interval with probability ``confidence`` per item.
    """

    _bounds = (("confidence", 1e-9, 1 - 1e-9),)

    def __init__(self, kind: str = "likert", *, grid: np.ndarray = LIKERT_GRID, confidence: float = 0.95, **kw):
        super().__init__(**kw)
        self.kind, self.grid, self.confidence = kind, np.asarray(grid, float), confidence

    def _check_values(self, c: Ratings) -> None:
        if self.kind not in ("flag", "likert"):
            raise UsageError(f"BayesianShrinkage: kind must be 'flag' or 'likert', got {self.kind!r}")
        if self.kind == "flag":
            bad, allowed = ~np.isin(c.value, (0.0, 1.0)), "0 or 1"
        else:
            low, high = self.grid[0], self.grid[-1]
            bad, allowed = (c.value < low) | (c.value > high), f"within [{low}, {high}]"
        if bad.any():
            raise UsageError(
                f"BayesianShrinkage({self.kind!r}): column {self.value!r} must be {allowed}; "
                f"{int(bad.sum())} values are not (first: {c.value[bad][0]:g})"
            )

    def _fit(self, c: Ratings) -> None:
        if self.kind == "flag":
            steps, points = 1, c.value
        else:
            steps = self.grid.size - 1
            points = (c.value - self.grid[0]) / (self.grid[-1] - self.grid[0]) * steps
        s = np.bincount(c.item, points, c.n_items)
        n = np.bincount(c.item, minlength=c.n_items) * steps
        a, b = fit_beta_prior(s, n)
        post_a, post_b = a + s, b + n - s
        tail = (1 - self.confidence) / 2
        lo, hi = stats.beta.ppf(tail, post_a, post_b), stats.beta.ppf(1 - tail, post_a, post_b)
        scale = (lambda x: x) if self.kind == "flag" else (lambda x: self.grid[0] + x * (self.grid[-1] - self.grid[0]))
        self.prior_ = (a, b)
        self.intervals_ = pd.DataFrame({"low": scale(lo), "high": scale(hi)}, index=c.items)
        self._finish(c, scale(post_a / (post_a + post_b)))


# --------------------------------------------------------------------------- EM models


_EPS = np.finfo(float).eps


class DawidSkene(_Categorical):
    """Dawid-Skene (1979): one confusion matrix per annotator, fitted by EM.

    Initialized with vote shares, and stopped when the evidence lower bound per rating improves by
    less than ``tol``, both as crowd-kit. A Dirichlet prior on each confusion row (so the fit is
    MAP) keeps rarely seen confusions off zero and away from 0/0: ``smoothing`` pseudo-counts per
    cell and ``diagonal`` more on the correct label (an annotator is a little more likely right
    than wrong). The defaults (0.03, 0.2) were chosen among about a dozen settings on the gold sets
    of ``benchmarks/bench_ds_vs_crowdkit.py``, where they are at least as accurate as crowd-kit's
    Dawid-Skene on every set (crowd-kit has no prior; 0.1 and 0 here lost 1-3 items on Dog,
    AdultContent2 and MS).
    Reliability: the annotator's expected accuracy Σ_k π_k E_a[k, k].

    Both EM steps are one sparse product with the (annotator, label) x item count matrix, built
    once: the M-step's expected counts are ``M @ post`` and the E-step's log-likelihoods are
    ``M.T @ log(confusion)``, so an iteration never touches the ratings one by one.
    """

    _bounds = (("n_iter", 1, np.inf), ("smoothing", 0.0, np.inf), ("diagonal", 0.0, np.inf))
    _class_pseudo = 0.0  # pseudo-items per class on the class proportions (ML proportions, as crowd-kit)
    _stop_on_elbo = True

    def __init__(
        self, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.03, diagonal: float = 0.2, **kw
    ) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.smoothing, self.diagonal = n_iter, tol, smoothing, diagonal

    def _pseudo_counts(self, counts: np.ndarray) -> np.ndarray | float:
        """Prior pseudo-counts added to the expected counts ``counts[a, l, k]``: ``smoothing`` in
        every cell and ``diagonal`` more where the label is the truth."""
        return self.smoothing + self.diagonal * np.eye(counts.shape[1])

    def _fit(self, c: Ratings) -> None:
        K, A, n = c.values.size, c.n_annotators, c.n_items
        # M.T[i, (a, l)]: how often annotator a gave label l to item i (duplicates sum), built once
        # per ratings for every model fitted on them. The M-step's M @ post runs as M.T's transpose
        # (CSC): it scatters each item's posteriors into the (annotator, label) rows, reading the
        # posteriors in order instead of gathering each row's items from all over them; each row's
        # sum takes its items in the same (ascending) order, so the same bits
        m_t = c.item_cells
        m = m_t.T
        per_item = np.bincount(c.item, minlength=n).astype(float)

        def m_step(post, expected):
            """Priors and confusions from the posteriors ``post`` and their expected counts ``m @ post``."""
            priors = np.maximum((post.sum(axis=0) + self._class_pseudo) / (n + K * self._class_pseudo), _EPS)
            counts = expected.reshape(A, K, K)  # [a, l, k]
            # the floor (crowd-kit's too) turns a row no rating reaches into a uniform one, not 0/0
            counts = np.maximum(counts + self._pseudo_counts(counts), _EPS)
            return priors, counts / counts.sum(axis=1, keepdims=True)  # P(label l | true k) for annotator a

        # initialised with the vote shares; then E-step, M-step and the evidence lower bound per
        # rating (crowd-kit's order and stopping rule). The expected counts and the log confusions
        # serve both the M-step and the bound, and the next E-step: each computed once
        post = _vote_shares(c)
        priors, conf = m_step(post, m @ post)
        log_conf = np.log(conf).reshape(A * K, K)
        last = -np.inf
        self.n_iter_ = 0
        # the E-step's log-weights, class-major (as normalize_class_major works), and a buffer for the bound's
        # entropy term: one pair of arrays for every iteration, each in the layout it was computed in
        log_t, buf = np.empty((K, n)), np.empty((K, n)) if self._stop_on_elbo else None
        for it in range(self.n_iter):
            np.add(np.log(priors)[:, None], (m_t @ log_conf).T, out=log_t)
            p, top_ll = normalize_class_major(log_t)
            if self._stop_on_elbo:  # post log(max(post, ε)), summed below over the class-major array
                np.maximum(p, _EPS, out=buf)
                np.log(buf, out=buf)
                buf *= p
            post, ll = log_t.T, float(top_ll.sum())  # items x classes, a view of the class-major posteriors
            expected = m @ post
            priors, conf = m_step(post, expected)
            log_conf = np.log(conf).reshape(A * K, K)
            if self._stop_on_elbo:
                elbo = ((expected * log_conf).sum() + (per_item @ post) @ np.log(priors) - buf.sum()) / c.item.size
            else:  # the marginal log-likelihood per rating (with a prior refitted each step, the ELBO is not monotone)
                elbo = ll / c.item.size
            self.n_iter_ = it + 1
            if elbo - last < self.tol:
                break
            last = elbo
        pi = post.mean(axis=0)
        self.priors_ = pd.Series(pi, index=c.values)
        self.confusions_ = conf.transpose(0, 2, 1)  # [a, true k, label l]
        self._finish(c, post)
        self._set_reliability(np.einsum("k,akk->a", pi, self.confusions_), c)


def _ordinal_kernel(K: int, decay: float) -> np.ndarray:
    """G[l, k] ∝ decay^|l − k|: each column a distribution over labels that falls off with the
    number of scale steps from the true point k."""
    steps = np.abs(np.arange(K)[:, None] - np.arange(K)[None, :])
    g = decay**steps
    return g / g.sum(axis=0, keepdims=True)


class OrdinalDawidSkene(DawidSkene):
    """Dawid-Skene with an ordinal prior: a confusion row puts its prior mass near the truth.

    Each annotator's row for true point k has the prior Dirichlet(s · G(· | k)) with
    G(l | k) ∝ ρ^|l − k| over scale steps, so that an annotator with few ratings is assumed to miss
    by one point more often than by two, while one with many ratings gets their own confusions
    (the counts outweigh s). The strength s and the decay ρ are not set by hand: each M-step
    refits them by type-II maximum likelihood, maximizing the Dirichlet-multinomial evidence of
    all annotators' expected counts (empirical Bayes; the hierarchical Dawid-Skene of Paun et al.
    2018 with an ordinal base measure). Predictions are posterior medians, which minimize the
    expected absolute error on an ordered scale; ``posterior_mean_`` is there too.

    The class proportions get a symmetric Dirichlet prior worth ``class_smoothing`` items per
    scale point. Without it, EM under the weak ordinal prior can empty whole scale points: with a
    few annotators who always give one label, the end points of a 5-point scale got proportion 0
    in 19 of 20 simulated crowds and could never be predicted (tests/test_aggregation.py). Ten
    pseudo-items are negligible on large sets and keep every point alive on small ones. The scale's
    order is the sorted order of the values, so map text labels to numbers first.

    Fitted: ``prior_strength_`` (s), ``prior_decay_`` (ρ), ``confusions_``; per annotator,
    ``annotator_bias_`` (expected signed error in scale steps) and ``annotator_mae_`` (expected
    absolute error in steps). Reliability: 1 − annotator_mae_ / (K − 1).

    Paun, S., Carpenter, B., Chamberlain, J., Hovy, D., Kruschwitz, U. & Poesio, M. (2018).
    Comparing Bayesian models of annotation. TACL 6.
    Minka, T. (2000). Estimating a Dirichlet distribution. Technical report.
    """

    _bounds = (*DawidSkene._bounds, ("class_smoothing", 0.0, np.inf))
    _stop_on_elbo = False

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, class_smoothing: float = 10.0, **kw) -> None:
        super().__init__(n_iter=n_iter, tol=tol, smoothing=0.0, **kw)
        self.class_smoothing = class_smoothing

    @property
    def _class_pseudo(self) -> float:
        return self.class_smoothing

    def _pseudo_counts(self, counts: np.ndarray) -> np.ndarray:
        K = counts.shape[1]
        n = counts.sum(axis=1)  # [a, k]

        def neg_evidence(t: np.ndarray) -> float:
            alpha = np.exp(t[0]) * _ordinal_kernel(K, special.expit(t[1]))
            return -(
                (special.gammaln(np.exp(t[0])) - special.gammaln(n + np.exp(t[0]))).sum()
                + (special.gammaln(counts + alpha) - special.gammaln(alpha)).sum()
            )

        # (log s, logit ρ), warm-started from the last M-step. L-BFGS-B's BLAS calls on two
        # parameters run on one thread: waking OpenBLAS's pool for them cost 15x the optimizer's own work
        with one_blas_thread():
            self._hyper = optimize.minimize(neg_evidence, self._hyper, method="L-BFGS-B", bounds=[(-5, 10), (-8, 8)]).x
        return np.exp(self._hyper[0]) * _ordinal_kernel(K, special.expit(self._hyper[1]))

    def _fit(self, c: Ratings) -> None:
        K = c.values.size
        self._hyper = np.array([np.log(K), 0.0])  # s = K, ρ = 1/2
        super()._fit(c)
        self.prior_strength_, self.prior_decay_ = float(np.exp(self._hyper[0])), float(special.expit(self._hyper[1]))
        post = self.probas_.to_numpy()
        self.labels_ = pd.Series(c.values[(np.cumsum(post, axis=1) >= 0.5).argmax(axis=1)], index=c.items, name="label")
        x = c.values.astype(float) if np.issubdtype(c.values.dtype, np.number) else np.arange(K, dtype=float)
        self.posterior_mean_ = pd.Series(post @ x, index=c.items)
        err = np.arange(K)[None, :] - np.arange(K)[:, None]  # [k, l]: l − k in steps
        pi = self.priors_.to_numpy()
        self.annotator_bias_ = pd.Series(np.einsum("k,akl,kl->a", pi, self.confusions_, err), index=c.annotators)
        self.annotator_mae_ = pd.Series(np.einsum("k,akl,kl->a", pi, self.confusions_, np.abs(err)), index=c.annotators)
        self._set_reliability(1 - self.annotator_mae_.to_numpy() / max(K - 1, 1), c)


class _ItemBlocks:
    """A Ratings' ratings in item-major order, cut into blocks of whole items, for EM loops whose
    per-rating arrays and per-item posteriors would not fit a core's cache at once.

    Items are renumbered in the order the ratings first name them (items never rated last, in code
    order), and the ratings stably sorted by the new numbers: a table whose rows come item by item
    (votes read per message) needs no sort, and a block's items are then a run of its ratings. A
    sum over an item's ratings sees them in the same order as over the table's rows, so each item's
    sums are the same bits as ``np.bincount`` over the whole table; the arrays keyed by item come
    out in the new order (``sorted_of_new``/``new_of_sorted`` map between the two numberings).
    ``perm``: the ratings' positions in item-major order (None where that is the table's order).
    """

    def __init__(self, c: Ratings, block: int) -> None:
        n = c.n_items
        new, seen = pd.factorize(c.item)
        new = np.asarray(new, dtype=np.intp)
        if seen.size < n:  # items no rating names: numbered last
            absent = np.ones(n, dtype=bool)
            absent[seen] = False
            seen = np.concatenate([seen, np.flatnonzero(absent)])
        self.sorted_of_new = np.asarray(seen, dtype=np.intp)
        self.new_of_sorted = np.empty(n, dtype=np.intp)
        self.new_of_sorted[self.sorted_of_new] = np.arange(n)
        self.identity = bool((self.sorted_of_new == np.arange(n)).all())
        self.perm = None if (new[1:] >= new[:-1]).all() else np.argsort(new, kind="stable")
        self.new = new if self.perm is None else new[self.perm]  # item-major: ascending
        ends = np.cumsum(np.bincount(new, minlength=n))  # ratings through each item
        self.items = _cuts(ends, block)  # block b holds items [items[b], items[b + 1])
        self.ratings = np.r_[0, ends][self.items]  # and ratings [ratings[b], ratings[b + 1]) in item-major order

    def sorted_block(self, b: int) -> slice | np.ndarray:
        """Block ``b``'s items in item-code order: where to put its per-item values."""
        i0, i1 = self.items[b], self.items[b + 1]
        return slice(i0, i1) if self.identity else self.sorted_of_new[i0:i1]

    def ordered(self, x: np.ndarray) -> np.ndarray:
        """Per-rating ``x`` in item-major order."""
        return x if self.perm is None else x[self.perm]

    def to_sorted(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        """Per-item ``x`` (in the new numbering along ``axis``) in item-code order."""
        return x if self.identity else np.take(x, self.new_of_sorted, axis=axis)


def _cuts(ends: np.ndarray, block: int) -> np.ndarray:
    """Where to cut items into blocks of whole items (``ends``: the ratings through each item, in
    order): at most ``block`` ratings a block, or else two items. Never one item alone (unless
    there is one): numpy sums a K x 1 block's posteriors over the classes pairwise (K > 7), not
    class after class as it does for two items or more."""
    n = ends.size
    cuts = [0]
    while cuts[-1] < n:
        i0 = cuts[-1]
        r0 = ends[i0 - 1] if i0 else 0
        cuts.append(max(int(np.searchsorted(ends, r0 + block, side="right")), i0 + 2))
    if len(cuts) > 2 and n - cuts[-2] < 2:
        del cuts[-2]  # a last block of one item joins the one before
    cuts[-1] = n
    return np.array(cuts)


#: Ratings per block of the EM loops that work block by block: a block's few per-rating arrays of
#: 8 bytes and its items' K posteriors stay within a core's 2 MiB L2 cache.
_BLOCK = 1 << 15


class MACE(_Categorical):
    """MACE (Hovy et al. 2013): each annotator is competent with probability θ_a, else labels by
    their own strategy ξ_a regardless of the truth. EM with closed-form updates.

    Reliability is θ_a, which makes spammers (θ near 0) easy to flag.

    An iteration runs over blocks of whole items (:class:`_ItemBlocks`): each block's E-step, its
    items' posteriors and its ratings' spam indicators are computed while in cache. The sums over
    an annotator's ratings run in the table's order, as do the sums per item, so a fit is the same
    whatever the block size.
    """

    _bounds = (("n_iter", 1, np.inf), ("smoothing", 1e-12, np.inf))

    def __init__(self, n_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.5, **kw) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing

    def _fit(self, c: Ratings, block: int = _BLOCK) -> None:
        K, A = c.values.size, c.n_annotators
        rng = np.random.default_rng(self.seed)
        theta = np.full(A, 0.8) + rng.uniform(-0.05, 0.05, A)
        xi = np.full((A, K), 1.0 / K)
        n = np.bincount(c.annotator, minlength=A)
        cell = c.annotator * K + c.code  # (annotator, label) of each rating, for the strategies' sums
        blocks = _ItemBlocks(c, block)
        cell_o, code_o = blocks.ordered(cell), blocks.ordered(c.code)
        # per block: its ratings' cells and, in the block's label-major posteriors (the class-major
        # array normalize_class_major works on), their (label, item) and items; stored in the narrowest
        # integers (an iteration reads them from memory, the rest stays in cache) and widened per block
        parts = []
        for b in range(blocks.items.size - 1):
            (i0, i1), (r0, r1) = blocks.items[b : b + 2], blocks.ratings[b : b + 2]
            it = blocks.new[r0:r1] - i0
            parts.append(
                (
                    i1 - i0,
                    narrow_ints(cell_o[r0:r1], A * K),
                    narrow_ints(code_o[r0:r1] * (i1 - i0) + it, K * (i1 - i0)),
                    narrow_ints(it, i1 - i0),
                )
            )
        # the spam indicators' sums per annotator and per cell, in the table's order: block by block
        # where the blocks are in that order, else after putting the indicators back in it
        spam = None if blocks.perm is None else np.empty(c.item.size)
        ann_of_cell = np.repeat(np.arange(A), K)
        top_ll = np.empty(c.n_items)  # per item (in code order, for the sum): its log normalizer
        last = -np.inf
        for _ in range(self.n_iter):
            # the terms that depend on a rating's (annotator, label) cell alone: computed per cell, then gathered
            th, x = np.repeat(theta, K), xi.ravel()
            # P(label | true = k): (1 − θ) ξ(label) off the label, θ + (1 − θ) ξ(label) on it; so an
            # item's log-likelihood is the sum of the off-label logs plus, at each rating's label, the gap
            off = (1 - th) * x
            log_off = np.log(off)
            gap = np.log(th + off) - log_off
            # expected "spam" indicator per rating: certain when the label is not the truth
            spam_if_true = off / (th + off)
            spam_a, spam_cell = np.zeros(A), np.zeros(A * K)
            posts = []
            for b, (m, cell_b, label_item, item) in enumerate(parts):
                cell_b, label_item, item = cell_b.astype(np.intp), label_item.astype(np.intp), item.astype(np.intp)
                # (a block of items no rating names: numpy counts no weights into integer zeros)
                log_t = np.bincount(label_item, gap[cell_b], K * m).astype(float, copy=False).reshape(K, m)
                log_t += np.bincount(item, log_off[cell_b], m)
                post, top_ll[blocks.sorted_block(b)] = normalize_class_major(log_t)
                posts.append(post)
                p_true = post.ravel()[label_item]  # post[item, code]
                s = (1 - p_true) + p_true * spam_if_true[cell_b]
                if spam is None:
                    np.add.at(spam_a, ann_of_cell[cell_b], s)
                    np.add.at(spam_cell, cell_b, s)
                else:
                    spam[blocks.perm[blocks.ratings[b] : blocks.ratings[b + 1]]] = s
            if spam is not None:
                spam_a, spam_cell = np.bincount(c.annotator, spam, A), np.bincount(cell, spam, A * K)
            ll = float(top_ll.sum()) / c.item.size
            theta = (n - spam_a + self.smoothing) / (n + 2 * self.smoothing)
            xi = spam_cell.reshape(A, K) + self.smoothing / K
            xi /= xi.sum(axis=1, keepdims=True)
            if ll - last < self.tol:
                break
            last = ll
        self.strategies_ = xi
        self._finish(c, np.ascontiguousarray(blocks.to_sorted(np.concatenate(posts, axis=1), axis=1)).T)
        self._set_reliability(theta, c)


METHODS: dict[str, type[Aggregator]] = {
    "majority": MajorityVote,
    "mean": Mean,
    "median": Median,
    "trimmed_mean": TrimmedMean,
    "zscore": ZScoreMean,
    "shrinkage": BayesianShrinkage,
    "dawid_skene": DawidSkene,
    "mace": MACE,
    "ordinal_ds": OrdinalDawidSkene,
}
#: The methods that treat values as categories (they give class probabilities).
CATEGORICAL_METHODS = frozenset(name for name, cls in METHODS.items() if issubclass(cls, _Categorical))


def flag_annotators(df: pd.DataFrame, *, threshold: float = 0.5, min_ratings: int = 10, **columns) -> pd.DataFrame:
    """Annotators whose labels look unreliable or like spam.

    MACE's competence θ (the probability that a label reflects the item rather than a fixed
    strategy) and Dawid-Skene's expected accuracy, with ``flagged`` = θ below ``threshold`` on at
    least ``min_ratings`` ratings, and the annotator's most used label share (a spammer who always
    answers the same shows near 1).
    """
    mace = MACE(**columns).fit(df)
    ds = DawidSkene(**columns).fit(df)
    c = _code(df, mace.item, mace.annotator, mace.value)
    n = np.bincount(c.annotator, minlength=c.n_annotators)
    top = (
        sp.csr_matrix((np.ones(c.code.size), (c.annotator, c.code)), shape=(c.n_annotators, c.values.size))
        .toarray()
        .max(axis=1)
        / n
    )
    out = pd.DataFrame(
        {
            "n_ratings": n,
            "mace_competence": mace.annotator_reliability_.to_numpy(),
            "ds_accuracy": ds.annotator_reliability_.to_numpy(),
            "top_label_share": top,
        },
        index=c.annotators,
    )
    out["flagged"] = (out["mace_competence"] < threshold) & (out["n_ratings"] >= min_ratings)
    return out.sort_values("mace_competence")
