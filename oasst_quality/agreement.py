"""Inter-annotator agreement: Krippendorff's alpha, kappas, Gwet's AC1/AC2, Kendall's W.

Every statistic here reduces the annotations to one sparse matrix ``N`` (items x values; ``N[u, c]``
= how many annotators gave value ``c`` to item ``u``), so that nothing dense of size annotators x
items is ever built. The data may be given as

* a long DataFrame (``item``, ``annotator``, ``value`` columns by default; other names by keyword,
  so a crowd-kit frame ``task, worker, label`` works as well),
* a reliability matrix (2-D array, annotators x items, NaN = missing), or
* value counts (items x values) via ``value_counts=``.

All three give identical results. Krippendorff's coincidence matrix adds across partitions of the
items, so :func:`coincidence_matrix` on shards plus :meth:`Coincidences.merge` equals the whole.

References
----------
Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
Communication, University of Pennsylvania. https://repository.upenn.edu/asc_papers/43
Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.
Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychol. Bull. 76(5).
Cohen, J. (1968). Weighted kappa. Psychol. Bull. 70(4).
Kendall, M. G. & Babington Smith, B. (1939). The problem of m rankings. Ann. Math. Stat. 10(3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from ._util import bootstrap_estimate, unique_rows
from .coding import Ratings, code_values, encode
from .errors import NotComputableError, UsageError
from .estimate import Estimate

Level = Literal["nominal", "ordinal", "interval", "ratio"] | Callable[..., np.ndarray]


# --------------------------------------------------------------------------- input


def ratings(
    data: pd.DataFrame | np.ndarray | None = None,
    *,
    value_counts: np.ndarray | None = None,
    value_domain: np.ndarray | None = None,
    item: str = "item",
    annotator: str = "annotator",
    value: str = "value",
) -> Ratings:
    """Reduce any accepted input form to :class:`~oasst_quality.coding.Ratings` (missing values
    dropped; a long table's items and annotators in sorted order, see :mod:`oasst_quality.coding`)."""
    if value_counts is not None:
        counts = np.asarray(value_counts)
        if counts.ndim != 2 or (counts < 0).any() or not np.allclose(counts, np.round(counts)):
            raise UsageError("value_counts must be a 2-D array of non-negative integer counts (items x values)")
        domain = np.arange(counts.shape[1], dtype=float) if value_domain is None else np.asarray(value_domain, float)
        if domain.size != counts.shape[1]:
            raise UsageError(f"value_domain has {domain.size} values but value_counts has {counts.shape[1]} columns")
        units, codes = np.nonzero(counts)
        reps = np.round(counts[units, codes]).astype(np.int64)
        order = np.argsort(domain, kind="stable")
        rank_of = np.empty_like(order)
        rank_of[order] = np.arange(order.size)
        return Ratings(
            np.repeat(units, reps),
            np.full(reps.sum(), -1),
            np.repeat(rank_of[codes], reps),
            domain[order],
            counts.shape[0],
            0,
        )
    if isinstance(data, pd.DataFrame):
        return encode(data, item=item, annotator=annotator, value=value, value_domain=value_domain)
    if data is None:
        raise UsageError("give data (a long DataFrame or a reliability matrix) or value_counts")
    matrix = np.asarray(data, dtype=float)
    if matrix.ndim != 2:
        raise UsageError("a reliability matrix must be 2-D: annotators x items")
    ann_codes, item_codes = np.nonzero(~np.isnan(matrix))
    domain, codes = code_values(matrix[ann_codes, item_codes], value_domain)
    return Ratings(item_codes, ann_codes, codes, domain, matrix.shape[1], matrix.shape[0])


def _as_ratings(data, kw) -> Ratings:
    return data if isinstance(data, Ratings) else ratings(data, **kw)


# --------------------------------------------------------------------------- Krippendorff's alpha


@dataclass(frozen=True)
class Coincidences:
    """Krippendorff's coincidence matrix ``o`` over the sorted distinct ``values``."""

    o: np.ndarray
    values: np.ndarray
    n_items: int  # pairable items (two or more values)

    @property
    def n_pairable(self) -> float:
        return float(self.o.sum())

    def merge(self, other: Coincidences) -> Coincidences:
        """Coincidences of the union of two disjoint sets of items."""
        values = np.union1d(self.values, other.values)
        o = np.zeros((values.size, values.size))
        for part in (self, other):
            idx = np.searchsorted(values, part.values)
            o[np.ix_(idx, idx)] += part.o
        return Coincidences(o, values, self.n_items + other.n_items)


def _unit_weights(counts: sp.csr_matrix) -> np.ndarray:
    """1 / (m_u - 1) for pairable items, 0 for items with fewer than two values."""
    m = np.asarray(counts.sum(axis=1)).ravel()
    w = np.zeros_like(m)
    np.divide(1.0, m - 1, out=w, where=m >= 2)
    return w


def coincidence_matrix(data=None, **kw) -> Coincidences:
    """Krippendorff's coincidence matrix: ``o = Nᵀ diag(w) N − diag(Nᵀ w)`` with ``w_u = 1/(m_u − 1)``."""
    r = _as_ratings(data, kw)
    counts = r.counts
    w = _unit_weights(counts)
    weighted = sp.diags(w) @ counts
    o = (counts.T @ weighted).toarray() - np.diag(np.asarray(weighted.sum(axis=0)).ravel())
    return Coincidences(o, r.values, int((w > 0).sum()))


def distance_matrix(level: Level, values: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """Squared difference δ²(c, k) between all pairs of values (``n_c``: pairable values per value).

    ``n_c`` may carry leading batch dimensions (bootstrap); the result then has them too. A custom
    ``level`` is a function ``f(c, k, n_c)`` of two broadcastable value grids and the marginals.
    """
    v = np.asarray(values, dtype=float) if level != "nominal" else np.arange(len(values))
    c, k = v[:, None], v[None, :]
    if callable(level):
        return np.broadcast_to(np.asarray(level(c, k, n_c), dtype=float), (*n_c.shape[:-1], v.size, v.size))
    if level == "nominal":
        d = (c != k).astype(float)
    elif level == "interval":
        d = (c - k) ** 2
    elif level == "ratio":
        total = c + k
        d = np.divide((c - k) ** 2, total**2, out=np.zeros((v.size, v.size)), where=total != 0)
    elif level == "ordinal":
        cs = np.cumsum(n_c, axis=-1)
        return (cs[..., None, :] - cs[..., :, None] + (n_c[..., :, None] - n_c[..., None, :]) / 2) ** 2
    else:
        raise UsageError(f"level must be nominal, ordinal, interval, ratio or a function, got {level!r}")
    return np.broadcast_to(d, n_c.shape[:-1] + d.shape)


def alpha_from_coincidences(o: np.ndarray, values: np.ndarray, level: Level = "interval") -> np.ndarray | float:
    """α = 1 − (n − 1) Σ o δ² / Σ n_c n_k δ²; ``o`` may be a batch (..., V, V). NaN where undefined."""
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    d = distance_matrix(level, values, n_c)
    observed = (o * d).sum(axis=(-2, -1))
    expected = np.einsum("...c,...ck,...k->...", n_c, d, n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(expected > 0, 1.0 - (n - 1) * observed / expected, np.nan)
    return float(alpha) if alpha.ndim == 0 else alpha


def krippendorff_alpha(data=None, level: Level = "interval", **kw) -> float:
    """Krippendorff's alpha at any level of measurement.

    Parameters
    ----------
    data
        A long DataFrame, a reliability matrix (annotators x items, NaN = missing), or ``None`` with
        ``value_counts=`` (items x values; ``value_domain=`` gives the values of the columns).
    level
        ``"nominal"``, ``"ordinal"``, ``"interval"``, ``"ratio"`` or a function ``f(c, k, n_c)``
        returning the squared distance between values (see :func:`distance_matrix`).
    item, annotator, value
        Column names of a long DataFrame.

    Returns
    -------
    float
        Alpha. Items with a single value are not pairable and are ignored; an annotator's
        repeated values for the same item count as separate values. Raises
        :class:`~oasst_quality.errors.NotComputableError` when nothing is pairable or there is no
        variation to compare against (fewer than two distinct pairable values).
    """
    c = coincidence_matrix(data, **kw)
    if c.n_pairable == 0:
        raise NotComputableError("no item has two or more values: alpha needs pairable values")
    alpha = alpha_from_coincidences(c.o, c.values, level)
    if np.isnan(alpha):
        raise NotComputableError("every pairable value is the same: no variation to compare against")
    return alpha


# --------------------------------------------------------------------------- kappa family


def _item_tables(r: Ratings) -> tuple[np.ndarray, np.ndarray]:
    """Dense items x categories counts of every rated item, and the totals."""
    counts = r.counts
    totals = np.asarray(counts.sum(axis=1)).ravel()
    keep = totals >= 1
    return counts[keep].toarray(), totals[keep]


def _weights(values: np.ndarray, weights: str | None) -> np.ndarray:
    v = np.asarray(values, dtype=float) if weights else np.arange(len(values))
    diff = np.abs(v[:, None] - v[None, :])
    span = diff.max() if diff.size and diff.max() > 0 else 1.0
    if weights is None or weights == "identity":
        return (diff == 0).astype(float)
    if weights == "linear":
        return 1 - diff / span
    if weights == "quadratic":
        return 1 - (diff / span) ** 2
    raise UsageError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def _agreement_parts(table: np.ndarray, totals: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-item observed agreement (0 where undefined), whether it is defined (two or more ratings),
    and per-item category shares (Gwet 2014, ch. 2).

    Observed agreement averages over the pairable items only, but the chance shares π_k average
    r_ik / r_i over every rated item, single-rated ones included, as Gwet's formulas and irrCAC do.
    """
    weighted = table @ w.T  # r*_ik = Σ_l w_kl r_il
    pairable = totals >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        per_item = np.where(pairable, (table * (weighted - 1)).sum(axis=1) / (totals * (totals - 1)), 0.0)
    shares = table / totals[:, None]
    return per_item, pairable.astype(float), shares


def _chance_fleiss(pi: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.einsum("...k,kl,...l->...", pi, w, pi)


def _chance_gwet(pi: np.ndarray, w: np.ndarray) -> np.ndarray:
    q = w.shape[0]
    return w.sum() / (q * (q - 1)) * (pi * (1 - pi)).sum(axis=-1)


def _kappa(data, kw, weights, chance) -> float:
    r = _as_ratings(data, kw)
    table, totals = _item_tables(r)
    if not (totals >= 2).any():
        raise NotComputableError("no item has two or more ratings")
    if r.values.size < 2:
        raise NotComputableError("only one category was used: chance agreement is undefined")
    w = _weights(r.values, weights)
    per_item, pairable, shares = _agreement_parts(table, totals, w)
    pa, pe = per_item.sum() / pairable.sum(), chance(shares.mean(axis=0), w)
    if pe >= 1:
        raise NotComputableError("chance agreement is 1: the coefficient is undefined")
    return float((pa - pe) / (1 - pe))


def percent_agreement(data=None, **kw) -> float:
    """Mean, over items with two or more ratings, of the share of rating pairs that agree."""
    r = _as_ratings(data, kw)
    table, totals = _item_tables(r)
    table, totals = table[totals >= 2], totals[totals >= 2]
    if not totals.size:
        raise NotComputableError("no item has two or more ratings")
    return float(((table * (table - 1)).sum(axis=1) / (totals * (totals - 1))).mean())


def fleiss_kappa(data=None, **kw) -> float:
    """Fleiss' kappa, generalized to unequal numbers of ratings per item.

    Uses Gwet's (2014, ch. 2) generalization of Fleiss (1971), as irrCAC computes it: the observed
    agreement is the mean over items with two or more ratings of Σ_k r_ik (r_ik − 1) / (r_i (r_i − 1)),
    and chance agreement Σ_k π_k² with π_k the mean over every rated item (single-rated ones too)
    of r_ik / r_i. With equal numbers of ratings per item it is exactly Fleiss' kappa.
    """
    return _kappa(data, kw, None, _chance_fleiss)


def gwet_ac1(data=None, **kw) -> float:
    """Gwet's AC1 (nominal categories, any number of raters per item; Gwet 2008, 2014)."""
    return _kappa(data, kw, None, _chance_gwet)


def gwet_ac2(data=None, *, weights: str = "quadratic", **kw) -> float:
    """Gwet's AC2: AC1 with ``"linear"`` or ``"quadratic"`` weights on the category values."""
    return _kappa(data, kw, weights, _chance_gwet)


def cohen_kappa(a, b, *, weights: str | None = None) -> float:
    """Cohen's kappa between two raters' labels of the same items (NaN pairs dropped).

    ``weights="linear"`` or ``"quadratic"`` gives weighted kappa (Cohen 1968) with disagreement
    weights on the category index |i − j| (as statsmodels and scikit-learn do).
    """
    a, b = pd.Series(np.asarray(a)), pd.Series(np.asarray(b))
    keep = a.notna() & b.notna()
    a, b = a[keep].to_numpy(), b[keep].to_numpy()
    if a.size == 0:
        raise NotComputableError("no item labelled by both raters")
    cats, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    q = cats.size
    table = np.zeros((q, q))
    np.add.at(table, (codes[: a.size], codes[a.size :]), 1)
    table /= table.sum()
    idx = np.arange(q)
    diff = np.abs(idx[:, None] - idx[None, :]).astype(float)
    dis = {None: (diff > 0).astype(float), "linear": diff, "quadratic": diff**2}[weights]
    expected = np.outer(table.sum(axis=1), table.sum(axis=0))
    denom = (dis * expected).sum()
    if denom <= 0:
        raise NotComputableError("both raters used one and the same category: chance agreement is 1")
    return float(1 - (dis * table).sum() / denom)


# --------------------------------------------------------------------------- rankings


def kendalls_w(scores: np.ndarray, *, ties: bool = True) -> float:
    """Kendall's coefficient of concordance W for m raters ranking the same n objects.

    ``scores`` is m x n (rows: raters); each row is turned into ranks, ties sharing their mean rank.
    With ``ties=True`` the denominator carries the tie correction m Σ_j Σ_t (t³ − t).
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise UsageError("scores must be m x n with m >= 2 raters and n >= 2 objects")
    if np.isnan(x).any():
        raise UsageError("Kendall's W needs complete rankings (no NaN)")
    m, n = x.shape
    ranks = rankdata(x, axis=1)
    s = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    correction = 0.0
    if ties:
        for row in x:
            _, t = np.unique(row, return_counts=True)
            correction += (t**3 - t).sum()
    denom = m**2 * (n**3 - n) - m * correction
    if denom <= 0:
        raise NotComputableError("every rater tied every object: W is undefined")
    return float(12 * s / denom)


def pairwise_rank_agreement(scores: np.ndarray) -> float:
    """Share of (rater pair, object pair) comparisons where both raters order the objects the same way.

    ``scores`` is m x n (higher = better, NaN = not ranked). Only object pairs that both raters
    order strictly are compared.
    """
    x = np.asarray(scores, dtype=float)
    sign = np.sign(x[:, :, None] - x[:, None, :])  # m x n x n, NaN where unranked
    iu = np.triu_indices(x.shape[1], 1)
    s = sign[:, iu[0], iu[1]]  # m x pairs
    strict = (s != 0) & ~np.isnan(s)
    s = np.where(strict, s, 0)
    agree = (s @ s.T + strict.astype(float) @ strict.T.astype(float)) / 2  # pairs where signs match
    comparable = strict.astype(float) @ strict.T.astype(float)
    ia = np.triu_indices(x.shape[0], 1)
    total = comparable[ia].sum()
    if total <= 0:
        raise NotComputableError("no two raters both order any pair of objects strictly")
    return float(agree[ia].sum() / total)


# --------------------------------------------------------------------------- intervals


def _pair_contributions(counts: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Per-item coincidence contributions as rows of length V² (pairable items only)."""
    w = _unit_weights(counts)
    keep = np.flatnonzero(w > 0)
    c = counts[keep].tocsr()
    c.sort_indices()
    k = np.diff(c.indptr)  # distinct values per item
    entry_unit = np.repeat(np.arange(keep.size), k)
    reps = k[entry_unit]
    left = np.repeat(np.arange(c.nnz), reps)
    group_start = np.repeat(np.cumsum(reps) - reps, reps)
    right = c.indptr[entry_unit[left]] + (np.arange(left.size) - group_start)
    u = entry_unit[left]
    nl, nr = c.data[left], c.data[right]
    vals = w[keep][u] * (nl * nr - np.where(left == right, nl, 0.0))
    V = counts.shape[1]
    cols = c.indices[left] * V + c.indices[right]
    return sp.csr_matrix((vals, (u, cols)), shape=(keep.size, V * V)), keep


def _resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` x ``n`` multinomial counts: how often each of n units is drawn in each resample."""
    draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def _patterns(counts: sp.csr_matrix, max_cells: int = 50_000_000) -> tuple[np.ndarray | None, np.ndarray]:
    """One representative row per distinct row of ``counts`` and how often each occurs.

    Resampling items equals resampling these patterns multinomially with their frequencies, which
    is far cheaper when few patterns repeat (OASST flags: a handful of (no, yes) vote counts).
    Returns (None, _) when the patterns would not be much fewer than the items.
    """
    if counts.shape[0] * counts.shape[1] > max_cells:
        return None, np.empty(0)
    first, _, freq = unique_rows(counts.toarray())
    if first.size > counts.shape[0] // 4:
        return None, np.empty(0)
    return first, freq.astype(float)


def _percentile(estimate: float, samples: np.ndarray, confidence: float, n: int, units: int, **details) -> Estimate:
    """The estimate with its percentile interval over ``units`` resampled clusters (pairable items
    or annotators); without an interval where one unit (one item pairable) cannot give one."""
    unit = "pairable item" if details["cluster"] == "items" else "annotator"
    method = f"percentile bootstrap over {details['cluster']}"
    return bootstrap_estimate(estimate, samples, confidence, n, method, details, units=units, unit=unit)


def bootstrap(
    data=None,
    statistic: str = "alpha",
    *,
    level: Level = "interval",
    weights: str = "quadratic",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    cluster: Literal["items", "annotators"] = "items",
    seed: int = 0,
    chunk: int = 64,
    **kw,
) -> Estimate:
    """Seeded bootstrap interval for an agreement statistic.

    ``statistic`` is ``"alpha"`` (at ``level``), ``"fleiss_kappa"``, ``"gwet_ac1"``, ``"gwet_ac2"``
    (with ``weights``) or ``"percent_agreement"``. ``cluster="items"`` resamples items with
    replacement, vectorized: alpha is linear in per-item coincidence contributions, so a chunk of
    resamples is one sparse product. ``cluster="annotators"`` resamples annotators (each drawn
    annotator brings all their ratings), for data where annotators, not items, are the worry; it
    recomputes the statistic per resample and is slower. Returns the percentile interval as an
    :class:`~oasst_quality.estimate.Estimate` whose ``n`` is the number of items and whose details
    name the ``statistic`` and ``cluster``, the annotators and ratings, and the resamples used.
    Raises NotComputableError when the statistic is undefined on the data or on every resample.
    """
    r = _as_ratings(data, kw)
    if statistic not in ("alpha", "fleiss_kappa", "gwet_ac1", "gwet_ac2", "percent_agreement"):
        raise UsageError(f"unknown statistic {statistic!r}")
    rng = np.random.default_rng(seed)
    info = dict(
        statistic=statistic if statistic != "alpha" else f"alpha_{getattr(level, '__name__', level)}",
        cluster=cluster,
        n=r.n_items,
        n_annotators=r.n_annotators,
        n_ratings=int(r.item.size),
    )

    def compute(rr: Ratings) -> float:
        if statistic == "alpha":
            return krippendorff_alpha(rr, level)
        if statistic == "gwet_ac2":
            return gwet_ac2(rr, weights=weights)
        return {"fleiss_kappa": fleiss_kappa, "gwet_ac1": gwet_ac1, "percent_agreement": percent_agreement}[statistic](
            rr
        )

    estimate = compute(r)
    samples = np.empty(n_resamples)
    if cluster == "annotators":
        if r.n_annotators < 2:
            raise NotComputableError("annotator-clustered bootstrap needs annotator ids")
        order = np.argsort(r.annotator, kind="stable")
        starts = np.searchsorted(r.annotator[order], np.arange(r.n_annotators))
        sizes = np.bincount(r.annotator, minlength=r.n_annotators)
        for b in range(n_resamples):
            drawn = rng.integers(0, r.n_annotators, size=r.n_annotators)
            idx = order[np.concatenate([np.arange(starts[a], starts[a] + sizes[a]) for a in drawn])]
            resampled = r.take(idx)
            try:
                samples[b] = compute(resampled)
            except NotComputableError:
                samples[b] = np.nan
        return _percentile(estimate, samples, confidence, units=r.n_annotators, **info)
    if cluster != "items":
        raise UsageError(f"cluster must be 'items' or 'annotators', got {cluster!r}")
    counts = r.counts
    if statistic == "alpha":
        contrib, keep = _pair_contributions(counts)
        V = r.values.size
        patterns, freq = _patterns(counts[keep])
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            if patterns is None:
                f = _resample_counts(rng, keep.size, size)
                o = np.asarray((contrib.T @ f.T).T)
            else:  # items with the same value counts are exchangeable: draw how many of each pattern
                f = rng.multinomial(keep.size, freq / keep.size, size=size).astype(float)
                o = f @ contrib[patterns].toarray()
            samples[start : start + size] = alpha_from_coincidences(o.reshape(size, V, V), r.values, level)
        return _percentile(estimate, samples, confidence, units=keep.size, **info)
    table, totals = _item_tables(r)
    if statistic == "percent_agreement":  # defined on pairable items only: resample those
        table, totals = table[totals >= 2], totals[totals >= 2]
    w = _weights(r.values, weights if statistic == "gwet_ac2" else None)
    per_item, pairable, shares = _agreement_parts(table, totals, w)
    chance = _chance_fleiss if statistic == "fleiss_kappa" else _chance_gwet
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        f = _resample_counts(rng, totals.size, size)
        with np.errstate(divide="ignore", invalid="ignore"):
            pa = (f @ per_item) / (f @ pairable)
            if statistic == "percent_agreement":
                samples[start : start + size] = pa
                continue
            pe = chance(f @ shares / totals.size, w)
            samples[start : start + size] = np.where(pe < 1, (pa - pe) / (1 - pe), np.nan)
    return _percentile(estimate, samples, confidence, units=int((totals >= 2).sum()), **info)


# --------------------------------------------------------------------------- diagnostics


def annotator_agreement(data=None, level: Level = "interval", *, max_dense: int = 50_000_000, **kw) -> pd.DataFrame:
    """Leave-one-annotator-out alpha: how agreement moves when each annotator is left out.

    Returns one row per annotator: ``annotator``, ``n_ratings``, ``alpha_without`` and ``delta``
    (``alpha_without − alpha``: positive when the annotator lowers agreement). Only annotators who
    share an item with someone else move alpha. Vectorized: removing an annotator changes only the
    coincidence contributions of the items they rated, so each (annotator, item) group's change is
    computed at once and summed per annotator.
    """
    r = _as_ratings(data, kw)
    if r.n_annotators == 0:
        raise NotComputableError("leave-one-annotator-out needs annotator ids")
    base = coincidence_matrix(r)
    alpha = alpha_from_coincidences(base.o, base.values, level)
    V = r.values.size
    counts = r.counts.toarray() if r.n_items * V <= max_dense else None
    group_key = r.annotator.astype(np.int64) * r.n_items + r.item
    keys, inverse = np.unique(group_key, return_inverse=True)
    if counts is not None and keys.size * V * V <= max_dense:
        removed = np.zeros((keys.size, V))
        np.add.at(removed, (inverse, r.code), 1.0)
        before = counts[keys % r.n_items]
        change = _contribution(before) - _contribution(before - removed)  # groups x V x V
        ann = keys // r.n_items
        o = np.repeat(base.o[None], r.n_annotators, axis=0)
        np.subtract.at(o, ann, change)
    else:  # too many values for the dense route: recompute per annotator
        o = np.empty((r.n_annotators, V, V))
        for a in range(r.n_annotators):
            keep = r.annotator != a
            sub = r.take(keep)
            o[a] = coincidence_matrix(sub).o
    without = alpha_from_coincidences(o, r.values, level)
    return pd.DataFrame(
        {
            "annotator": r.annotators if r.annotators is not None else np.arange(r.n_annotators),
            "n_ratings": np.bincount(r.annotator, minlength=r.n_annotators),
            "alpha_without": without,
            "delta": without - alpha,
        }
    )


def _contribution(n: np.ndarray) -> np.ndarray:
    """Coincidence contribution (n nᵀ − diag n) / (m − 1) of each row of counts (0 if m < 2)."""
    m = n.sum(axis=1)
    w = np.zeros_like(m)
    np.divide(1.0, m - 1, out=w, where=m >= 2)
    outer = n[:, :, None] * n[:, None, :]
    idx = np.arange(n.shape[1])
    outer[:, idx, idx] -= n
    return outer * w[:, None, None]


def item_disagreement(data=None, level: Level = "interval", **kw) -> pd.DataFrame:
    """Each item's disagreement relative to chance.

    ``disagreement`` is the mean squared distance δ² over the pairs of values the item received;
    ``relative`` divides it by the expected δ² between two values drawn at random from all pairable
    values (Krippendorff's D_e): 0 means full agreement, about 1 chance level, above 1 worse.
    """
    r = _as_ratings(data, kw)
    counts = r.counts
    c = coincidence_matrix(r)
    n_c = c.o.sum(axis=1)
    n = n_c.sum()
    d = distance_matrix(level, r.values, n_c)
    expected = n_c @ d @ n_c / (n * (n - 1))
    m = np.asarray(counts.sum(axis=1)).ravel()
    within = np.asarray(counts.multiply(counts @ d).sum(axis=1)).ravel() - counts @ np.diag(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_pair = np.where(m >= 2, within / (m * (m - 1)), np.nan)
    return pd.DataFrame(
        {
            "item": r.items if r.items is not None else np.arange(r.n_items),
            "n_values": m.astype(int),
            "disagreement": per_pair,
            "relative": per_pair / expected if expected > 0 else np.nan,
        }
    )
