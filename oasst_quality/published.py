"""What OASST's published aggregates allow: flag agreement from (value, count), the Beta-prior
posteriors of each message's labels, and the test for unanswered labels stored as 0.

The public releases carry, per message and label, the mean ``value`` of ``count`` votes, not each
annotator's vote. A flag's votes are 0/1, so ``value × count`` is its number of yes votes and its
agreement follows exactly; a Likert label's sum of votes in grid steps (``value × count × 4``)
feeds a Beta-binomial model. Everything here depends on pattern counts that add across partitions
(:func:`flag_vote_patterns`, :func:`grid_patterns`). The generic statistics these build on are in
:mod:`oasst_quality.agreement` and :mod:`oasst_quality.aggregation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from . import adapter
from ._util import row_counts, unique_rows
from .adapter import whole_votes
from .aggregation import fit_beta_prior
from .agreement import bootstrap, fleiss_kappa, gwet_ac1, percent_agreement, ratings
from .estimate import no_interval_field
from .schema import FLAG_LABELS, LIKERT_GRID, LIKERT_LABELS

# --------------------------------------------------------------------------- flag agreement from counts


def flag_value_counts(labels: pd.DataFrame, label: str) -> tuple[np.ndarray, pd.Index, int]:
    """Items x (no, yes) vote counts of a 0/1 flag from aggregated (value, count) pairs: a labels
    table ``item, label, value, count`` (:func:`oasst_quality.adapter.labels`).

    For a flag, ``value`` is the mean of 0/1 votes, so ``value × count`` is the number of yes votes.
    Returns the counts, the item ids, and how many rows were inconsistent (``value × count``
    not an integer) and therefore left out.
    """
    rows = labels[(labels["label"] == label) & labels["count"].notna()]
    votes, consistent = _no_yes(rows["value"].to_numpy(dtype=float), rows["count"].to_numpy(dtype=float))
    return votes, pd.Index(rows["item"][consistent]), int((~consistent).sum())


def _no_yes(value: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(no, yes) vote counts of the rows whose ``value × count`` is whole, and which rows those are."""
    yes, consistent = whole_votes(value, count)
    return np.column_stack([count[consistent] - yes[consistent], yes[consistent]]), consistent


#: The numeric columns of :func:`agreement_from_labels` for a computable flag, in display order.
FLAG_AGREEMENT_COLUMNS = (
    "n_pairable_messages",
    "n_votes",
    "yes_share",
    "alpha",
    "alpha_low",
    "alpha_high",
    "fleiss_kappa",
    "gwet_ac1",
    "percent_agreement",
    "n_inconsistent",
)


def flag_vote_patterns(labels, by_label: dict | None = None) -> dict[str, dict]:
    """What :func:`agreement_from_labels` needs from a labels table (or a Dataset's: see
    :func:`oasst_quality.adapter.labels`), as counts that add across partitions.

    Per label: ``n_messages``, ``n_votes``, ``n_inconsistent`` and, for flags, ``patterns``: how
    many messages had each (no, yes) vote count. Flag agreement and its item bootstrap depend on
    these patterns only, so partitions of whole messages merge exactly (:func:`oasst_quality.partials.add`).
    ``by_label``: the table already grouped by label, to group it once per report.
    """
    from .schema import label_kind

    by_label = adapter.by_label(labels) if by_label is None else by_label
    out = {}
    for name, sub in by_label.items():
        count = sub["count"].to_numpy(dtype=float, na_value=np.nan)
        row = {"n_messages": len(sub), "n_votes": int(sub["count"].fillna(0).sum())}
        if label_kind(name) == "flag":  # flag_value_counts of the label's own rows, in arrays
            voted = ~np.isnan(count)
            votes, consistent = _no_yes(sub["value"].to_numpy(dtype=float)[voted], count[voted])
            row |= {"n_inconsistent": int((~consistent).sum()), "patterns": row_counts(votes.astype(np.int64))}
        out[str(name)] = row
    return out


def agreement_from_labels(
    dataset,
    *,
    labels: list[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Agreement per label of an OASST Dataset, computed only where the public data allows it.

    Flags are 0/1 votes, so their vote counts follow exactly from the aggregated (value, count):
    alpha (nominal; equal to interval for two values) with a bootstrap interval over messages,
    Fleiss' kappa, Gwet's AC1 and percent agreement. Likert labels publish only each message's mean
    and count, which do not determine the individual votes (a mean of .5 from two votes may be
    0 and 1 or .5 and .5): their agreement is reported as not computable, with the reason.
    """
    return agreement_from_patterns(
        flag_vote_patterns(dataset), labels=labels, n_resamples=n_resamples, confidence=confidence, seed=seed
    )


def agreement_from_patterns(
    stats: dict[str, dict],
    *,
    labels: list[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`agreement_from_labels` from :func:`flag_vote_patterns` (merged over any partitions).

    The vote-count rows are rebuilt in the patterns' sorted order, so the estimate and the seeded
    bootstrap do not depend on how the data was partitioned.
    """
    from .schema import label_kind

    names = labels or sorted(stats)
    rows = []
    for name in names:
        kind = label_kind(name)
        st = stats.get(name, {"n_messages": 0, "n_votes": 0, "n_inconsistent": 0, "patterns": {}})
        row = {"label": name, "kind": kind, "n_messages": st["n_messages"], "n_votes": st["n_votes"]}
        if kind != "flag":
            row.update(
                computable=False,
                reason=(
                    "single votes are not published (only each message's mean and count), and a mean does not "
                    "determine the votes; agreement needs per-annotator data (e.g. an events export)"
                    if kind == "likert"
                    else "unknown label: not in the OASST catalog"
                ),
            )
            rows.append(row)
            continue
        keys = sorted(st["patterns"])
        counts = np.repeat(np.array(keys, dtype=float).reshape(-1, 2), [st["patterns"][k] for k in keys], axis=0)
        pairable = counts.sum(axis=1) >= 2
        row.update(n_pairable_messages=int(pairable.sum()), n_inconsistent=st["n_inconsistent"])
        if pairable.sum() == 0 or (counts[pairable].sum(axis=0) == 0).any():
            row.update(
                computable=False,
                reason="fewer than two messages with two or more votes, or no variation"
                if pairable.sum() == 0
                else "every vote is the same: chance agreement is 1, so alpha and kappa are undefined",
            )
            rows.append(row)
            continue
        r = ratings(value_counts=counts, value_domain=np.array([0.0, 1.0]))
        ci = bootstrap(r, "alpha", level="nominal", n_resamples=n_resamples, confidence=confidence, seed=seed)
        row.update(
            computable=True,
            reason="",
            yes_share=float(counts[:, 1].sum() / counts.sum()),
            alpha=ci.estimate,
            alpha_low=ci.low,
            alpha_high=ci.high,
            fleiss_kappa=fleiss_kappa(r),
            gwet_ac1=gwet_ac1(r),
            percent_agreement=percent_agreement(r),
            **no_interval_field(ci, "alpha"),
        )
        rows.append(row)
    # an alpha_no_interval column only where some alpha has no interval
    fixed = ["label", "kind", "n_messages", "n_votes", "computable", "reason", *FLAG_AGREEMENT_COLUMNS]
    columns = dict.fromkeys([*fixed, *(k for r in rows for k in r)])
    table = pd.DataFrame(rows, columns=list(columns))
    table["computable"] = table["computable"].astype(bool)
    return table


# --------------------------------------------------------------------------- Beta-prior posteriors and default zeros


def _steps(name: str) -> int:
    return 1 if name in FLAG_LABELS else LIKERT_GRID.size - 1


def _grid_rows(labels: pd.DataFrame, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions of the rows with votes whose S = Σ votes in grid steps is whole, and their n
    votes and S, in arrays (no copy of the table)."""
    count = labels["count"].to_numpy(dtype=float, na_value=np.nan)
    at = np.flatnonzero(count > 0)  # a missing count (NaN) is not > 0
    n = count[at].astype(np.int64)
    s, whole = whole_votes(labels["value"].to_numpy(dtype=float)[at], n, steps)
    return at[whole], n[whole], s[whole]


def _grid_sums(labels: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per message: n votes and S = Σ votes in grid steps (dropping rows where S is not whole)."""
    at, n, s = _grid_rows(labels, steps)
    return labels.iloc[at].assign(n=n, s=s)


def grid_patterns(labels, by_label: dict | None = None) -> dict[str, dict[tuple[int, int], int]]:
    """Per catalog label, how many messages had each (n votes, S = Σ votes in grid steps), from a
    labels table ``item, label, value, count`` or a Dataset's (:func:`oasst_quality.adapter.labels`).

    Everything the OASST-aggregate models fit (the beta prior, the default-to-zero test) and the
    posterior summary depend on these counts only, so partitions merge by adding them.
    ``by_label``: the table already grouped by label, to group it once per report.
    """
    by_label = adapter.by_label(labels) if by_label is None else by_label
    out = {}
    for name in (*FLAG_LABELS, *LIKERT_LABELS):
        if name not in by_label:
            continue
        _, n, s = _grid_rows(by_label[name], _steps(name))
        out[name] = row_counts(np.column_stack([n, s.astype(np.int64)]))
    return out


def _pattern_arrays(patterns: dict[tuple[int, int], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, s, w) of a pattern count, in sorted order."""
    keys = sorted(patterns)
    arr = np.array(keys, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1], np.array([patterns[k] for k in keys], dtype=float)


def beta_priors(patterns: dict[str, dict]) -> dict[str, tuple[float, float]]:
    """Each label's empirical-Bayes Beta prior, fitted on :func:`grid_patterns`."""
    out = {}
    for name, pat in patterns.items():
        if pat:
            n, s, w = _pattern_arrays(pat)
            out[name] = fit_beta_prior(s, n * _steps(name), w)
    return out


def oasst_posteriors(
    dataset,
    *,
    labels: list[str] | None = None,
    confidence: float = 0.95,
    priors: dict[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Each message's posterior mean and ``confidence`` posterior interval per label, from OASST's (value, count).

    Flags: votes are 0/1, ``value × count`` yes votes, Beta-binomial with an empirical-Bayes prior.
    Likert labels: the sum of votes in grid steps (``value × count × 4``) is Binomial(4 × count,
    p) with p ~ Beta fitted on all messages of the label. A message resting on one vote gets a wide
    interval and is pulled toward the label's typical value (``single_vote`` marks them).
    ``priors``: fitted on the whole dataset (:func:`beta_priors`) when ``dataset`` is one partition of it.
    """
    table = adapter.labels(dataset)
    by_label = adapter.by_label(dataset)
    priors = beta_priors(grid_patterns(table, by_label)) if priors is None else priors
    names = labels or [n for n in (*FLAG_LABELS, *LIKERT_LABELS) if n in by_label]
    out = []
    tail = (1 - confidence) / 2
    for name in names:
        steps = _steps(name)
        rows = _grid_sums(by_label.get(name, table.iloc[:0]), steps)
        if rows.empty or name not in priors:
            continue
        trials = rows["n"].to_numpy() * steps
        a, b = priors[name]
        # posteriors depend on (s, trials) only: take quantiles once per distinct pair
        s_all = rows["s"].to_numpy()
        first, inverse, _ = unique_rows(np.column_stack([s_all, trials]))
        s_u, t_u = s_all[first], trials[first]
        pa, pb = a + s_u, b + t_u - s_u
        out.append(
            pd.DataFrame(
                {
                    "item": rows["item"].to_numpy(),
                    "label": name,
                    "kind": "flag" if steps == 1 else "likert",
                    "count": rows["n"].to_numpy(),
                    "value": rows["value"].to_numpy(),
                    "posterior_mean": (pa / (pa + pb))[inverse],
                    "low": stats.beta.ppf(tail, pa, pb)[inverse],
                    "high": stats.beta.ppf(1 - tail, pa, pb)[inverse],
                    "single_vote": rows["n"].to_numpy() == 1,
                }
            )
        )
    columns = ["item", "label", "kind", "count", "value", "posterior_mean", "low", "high", "single_vote"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def posterior_summary(dataset, *, confidence: float = 0.95) -> pd.DataFrame:
    """Per label, what :func:`oasst_posteriors` says about the whole export: ``kind``, ``n_messages``,
    ``single_vote_share``, ``mean_posterior`` and the mean interval width, overall and on
    single-vote messages (the CLI's ``aggregate`` and the report show this table)."""
    return summary_from_patterns(grid_patterns(dataset), confidence=confidence)


def summary_from_patterns(
    patterns: dict[str, dict], *, confidence: float = 0.95, priors: dict[str, tuple[float, float]] | None = None
) -> pd.DataFrame:
    """:func:`posterior_summary` from :func:`grid_patterns` (merged over any partitions);
    ``priors``: :func:`beta_priors` of them, if fitted already."""
    priors = beta_priors(patterns) if priors is None else priors
    tail = (1 - confidence) / 2
    rows = []
    for name in sorted(priors):
        n, s, w = _pattern_arrays(patterns[name])
        a, b = priors[name]
        pa, pb = a + s, b + n * _steps(name) - s
        width = stats.beta.ppf(1 - tail, pa, pb) - stats.beta.ppf(tail, pa, pb)
        one = n == 1
        rows.append(
            {
                "label": name,
                "kind": "flag" if _steps(name) == 1 else "likert",
                "n_messages": int(w.sum()),
                "single_vote_share": float(w[one].sum() / w.sum()),
                "mean_posterior": float((w * pa / (pa + pb)).sum() / w.sum()),
                "mean_interval_width": float((w * width).sum() / w.sum()),
                "mean_interval_width_single_vote": float((w * width)[one].sum() / w[one].sum()) if one.any() else None,
            }
        )
    columns = ["label", "kind", "n_messages", "single_vote_share", "mean_posterior", "mean_interval_width"]
    return pd.DataFrame(rows, columns=[*columns, "mean_interval_width_single_vote"])


class _ZeroInflated:
    """log P(S = s | n votes) when each vote is 0 by default with probability pi, else
    Binomial(steps, p) with the message's p ~ Beta(a, b), for fixed (s, n): the terms that do not
    depend on (pi, a, b) are computed once, not at each of the optimiser's hundreds of calls (the
    same operations in the same order, so the same numbers)."""

    def __init__(self, s: np.ndarray, n: np.ndarray, steps: int) -> None:
        k = np.arange(int(n.max()) + 1)[None]
        n, s = n[:, None], s[:, None]
        m = steps * k
        # P(k answered votes | n) and P(S | k answered): their (pi, a, b)-free parts and supports
        self.choose_k = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(np.maximum(n - k, 0) + 1)
        self.choose_s = special.gammaln(m + 1) - special.gammaln(s + 1) - special.gammaln(np.maximum(m - s, 0) + 1)
        self.k, self.n_minus_k, self.s, self.m_minus_s = k, n - k, s, m - s
        self.k_ok, self.s_ok = k <= n, s <= m

    def __call__(self, pi: float, a: float, b: float) -> np.ndarray:
        log_k = np.where(self.k_ok, self.choose_k + self.k * np.log1p(-pi) + self.n_minus_k * np.log(pi), -np.inf)
        beta = special.betaln(self.s + a, self.m_minus_s + b)
        log_s = np.where(self.s_ok, self.choose_s + beta - special.betaln(a, b), -np.inf)
        return _logsumexp_rows(log_k + log_s)


def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    """``scipy.special.logsumexp(x, axis=1)`` for a real matrix, by its own steps (the row's largest
    terms apart, the rest shifted, a direct sum where that is not finite) without its per-call overhead."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(np.exp(x).sum(axis=1, keepdims=True))
        top = x.max(axis=1, keepdims=True)
        is_top = x == top
        n_top = is_top.sum(axis=1, keepdims=True, dtype=x.dtype)
        rest = np.exp(np.where(is_top, -np.inf, x) - top).sum(axis=1, keepdims=True, dtype=x.dtype)
        rest = np.where(rest == 0, rest, rest / n_top)
        out = np.log1p(rest) + np.log(n_top) + top
    return np.where(np.isfinite(out), out, direct)[:, 0]


#: The default-to-zero test's significance level for listing a label's messages.
ZERO_ALPHA = 0.01


def default_zero_bias(dataset, *, labels: list[str] | None = None) -> pd.DataFrame:
    """Test each Likert label for unanswered votes stored as 0 (the OASST backend's default).

    Model: each vote is 0 "by default" with probability π, otherwise Binomial(4, p) on the grid,
    with p ~ Beta(a, b) per message. π is fitted by maximum likelihood on the (count, sum) of every
    message and compared with π = 0 by a likelihood-ratio test (boundary: half chi-square(1)).
    Reports the observed and the no-default expected share of all-zero messages, π, the test, the
    expected number of defaulted votes and the messages likely touched (posterior probability of at
    least one defaulted vote above 0.5; :func:`default_zero_messages` lists them). Flags are 0/1
    votes, where a default 0 cannot be told from a genuine "no" by counts alone, so they are not tested.
    """
    return zero_bias_from_patterns(grid_patterns(dataset), labels=labels)[0]


@dataclass(frozen=True)
class LabelFits:
    """The label models fitted on a whole dataset, for scoring its messages partition by partition:
    each label's Beta prior and the default-to-zero fits (:func:`zero_bias_from_patterns`)."""

    priors: dict[str, tuple[float, float]]
    zero_bias: tuple[pd.DataFrame, dict[str, pd.DataFrame]]
    #: the :func:`grid_patterns` they were fitted on (the flags' default-zero cap counts messages with them)
    patterns: dict[str, dict] | None = None


def label_fits(patterns: dict[str, dict]) -> LabelFits:
    """:class:`LabelFits` from :func:`grid_patterns` (merged over any partitions)."""
    return LabelFits(beta_priors(patterns), zero_bias_from_patterns(patterns), patterns)


def zero_bias_from_patterns(
    patterns: dict[str, dict], *, labels: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """:func:`default_zero_bias` from :func:`grid_patterns`, and per label the posterior probability
    ``p_defaulted`` of each (``n``, ``s``) pattern (for :func:`default_zero_messages`)."""
    rows, per_pattern = [], {}
    for name in labels or [n for n in LIKERT_LABELS if n in patterns]:
        fit = _zero_fit(patterns.get(name, {}), name)
        if fit is not None:
            rows.append(fit[0])
            per_pattern[name] = fit[1]
    return pd.DataFrame(rows, columns=_ZERO_BIAS_COLUMNS), per_pattern


def default_zero_messages(
    dataset,
    *,
    labels: list[str] | None = None,
    alpha: float = ZERO_ALPHA,
    fits: tuple[pd.DataFrame, dict[str, pd.DataFrame]] | None = None,
) -> pd.DataFrame:
    """Per message and Likert label whose default-to-zero test is significant at ``alpha``: the
    posterior probability ``p_defaulted`` that at least one of its votes is a stored default, with
    its ``count`` and ``value``. An upper bound, as for :func:`default_zero_bias`.
    ``fits``: :func:`zero_bias_from_patterns` on the whole dataset when ``dataset`` is one partition of it."""
    table, per_pattern = zero_bias_from_patterns(grid_patterns(dataset), labels=labels) if fits is None else fits
    parts = [
        label_zero_messages(dataset, name, per_pattern[name]) for name in table.loc[table["p_value"] < alpha, "label"]
    ]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_ZERO_MESSAGE_COLUMNS)


def label_zero_messages(dataset, name: str, per_pattern: pd.DataFrame) -> pd.DataFrame:
    """:func:`default_zero_messages` of one label, from its ``p_defaulted`` per (``n``, ``s``) pattern:
    the messages of the patterns given."""
    data = _grid_sums(adapter.label_rows(dataset, name), LIKERT_GRID.size - 1)
    return data.merge(per_pattern, on=["n", "s"]).assign(count=lambda d: d["n"])[_ZERO_MESSAGE_COLUMNS]


_ZERO_MESSAGE_COLUMNS = ["item", "label", "count", "value", "p_defaulted"]


def _zero_fit(patterns: dict[tuple[int, int], int], name: str) -> tuple[dict, pd.DataFrame] | None:
    """One Likert label's default-to-zero fit: (its summary row, ``p_defaulted`` per (n, s)), or None
    below 20 messages."""
    steps = LIKERT_GRID.size - 1
    n, s, w = _pattern_arrays({k: v for k, v in patterns.items() if k[0] >= 1})
    if w.sum() < 20:
        return None

    logpmf = _ZeroInflated(s, n, steps)

    def nll(theta, with_default=True):
        pi = special.expit(theta[0]) if with_default else 1e-12
        a, b = np.exp(theta[-2:])
        return -(w * logpmf(pi, a, b)).sum()

    null = optimize.minimize(lambda t: nll(np.r_[0.0, t], False), np.log([1.0, 2.0]), method="Nelder-Mead")
    full = min(
        (
            optimize.minimize(
                nll,
                np.r_[special.logit(p0), null.x],
                method="Nelder-Mead",
                options={"maxiter": 2000, "xatol": 1e-6, "fatol": 1e-8},
            )
            for p0 in (0.02, 0.2)
        ),
        key=lambda r: r.fun,
    )
    pi = float(special.expit(full.x[0]))
    a, b = np.exp(full.x[1:])
    a0, b0 = np.exp(null.x)
    lr = max(2 * (null.fun - full.fun), 0.0)
    p_value = 0.5 * stats.chi2.sf(lr, 1) if lr > 0 else 1.0
    observed = w[s == 0].sum() / w.sum()
    expected_share = float((np.exp(_ZeroInflated(np.zeros_like(n), n, steps)(1e-12, a0, b0)) * w).sum() / w.sum())
    # posterior probability that a message has at least one defaulted vote
    p_none = np.exp(logpmf(1e-12, a, b) + n * np.log1p(-pi) - logpmf(pi, a, b))
    touched = 1 - np.clip(p_none, 0, 1)
    row = {
        "label": name,
        "n_messages": int(w.sum()),
        "n_votes": int((w * n).sum()),
        "all_zero_share": float(observed),
        "all_zero_expected_without_default": expected_share,
        "default_rate": pi,
        "lr_statistic": float(lr),
        "p_value": float(p_value),
        "expected_defaulted_votes": float(pi * (w * n).sum()),
        "messages_likely_touched": int(w[touched > 0.5].sum()),
    }
    return row, pd.DataFrame({"n": n.astype(int), "s": s, "p_defaulted": touched})


_ZERO_BIAS_COLUMNS = [
    "label",
    "n_messages",
    "n_votes",
    "all_zero_share",
    "all_zero_expected_without_default",
    "default_rate",
    "lr_statistic",
    "p_value",
    "expected_defaulted_votes",
    "messages_likely_touched",
]
