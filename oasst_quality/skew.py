"""Concentration and representativeness: how skewed are languages, contributors and demographics?

Every statistic takes counts (a 1-D array or a Series of category -> count); the ones that make
sense with uncertainty have a seeded bootstrap version that resamples the underlying units
(multinomially, with the observed shares). Tallies add across shards, so a big dataset can be
counted in pieces and the counts summed before any statistic is taken.

References
----------
Hill, M. O. (1973). Diversity and evenness: a unifying notation. Ecology 54(2).
Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Trans. Inf. Theory 37(1).
Köpf, A. et al. (2023). OpenAssistant Conversations, arXiv:2304.07327 (contributor survey: 89.1 %
male, median age 26).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import adapter
from ._util import bootstrap_estimate
from .errors import NotComputableError, UsageError
from .estimate import Estimate

#: The OASST paper's contributor survey (share of respondents who gave a gender).
OASST_SURVEY_GENDER = pd.Series({"male": 0.891, "female": 0.109})


def _counts(counts) -> np.ndarray:
    x = np.asarray(counts, dtype=float)
    if x.ndim != 1 or (x < 0).any():
        raise UsageError("counts must be a 1-D array of non-negative numbers")
    return x


def entropy(counts, *, base: float = 2.0) -> float:
    """Shannon entropy of the shares (bits by default)."""
    x = _counts(counts)
    p = x[x > 0] / x.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def effective_number(counts) -> float:
    """Hill number of order 1, exp(entropy): how many equally common categories the spread equals."""
    return float(np.exp(entropy(counts, base=np.e)))


def gini(counts) -> float:
    """Gini coefficient of the counts: 0 when all are equal, (n − 1)/n when one holds everything.

    Uses the sorted-rank formula G = Σ (2i − n − 1) x_(i) / (n Σ x).
    """
    x = np.sort(_counts(counts))
    n = x.size
    if n == 0 or x.sum() == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * x.sum()))


def lorenz_curve(counts) -> tuple[np.ndarray, np.ndarray]:
    """Points (share of units, share of total) of the Lorenz curve, from (0, 0) to (1, 1)."""
    x = np.sort(_counts(counts))
    cum = np.concatenate([[0.0], np.cumsum(x)])
    return np.linspace(0, 1, x.size + 1), cum / cum[-1] if cum[-1] > 0 else cum


def top_share(counts, k: int | float = 0.01) -> float:
    """Share of the total held by the top ``k`` units (an int) or the top fraction ``k`` (a float < 1)."""
    x = np.sort(_counts(counts))[::-1]
    n = int(np.ceil(k * x.size)) if isinstance(k, float) and k < 1 else int(k)
    return float(x[:n].sum() / x.sum()) if x.sum() > 0 else 0.0


def _align(p, q) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(p, pd.Series) or isinstance(q, pd.Series):
        p, q = pd.Series(p, dtype=float), pd.Series(q, dtype=float)
        index = p.index.union(q.index)
        p, q = p.reindex(index, fill_value=0).to_numpy(), q.reindex(index, fill_value=0).to_numpy()
    p, q = _counts(p), _counts(q)
    if p.shape != q.shape:
        raise UsageError("the two distributions must have the same categories")
    if not (p.sum() and q.sum()):
        raise NotComputableError("a distribution with no counts has no shares to compare")
    return p / p.sum(), q / q.sum()


def jensen_shannon(p, q, *, base: float = 2.0) -> float:
    """Jensen-Shannon divergence between two distributions (counts or shares; Series align by label).

    Symmetric, 0 only for equal distributions, at most 1 bit.
    """
    p, q = _align(p, q)
    m = (p + q) / 2

    def kl(a):
        keep = a > 0
        return (a[keep] * np.log(a[keep] / m[keep])).sum()

    return float((kl(p) + kl(q)) / 2 / np.log(base))


@dataclass(frozen=True)
class GoodnessOfFit:
    statistic: float
    p_value: float
    dof: int
    n: int


def chi_square_test(observed, reference) -> GoodnessOfFit:
    """Pearson chi-square goodness of fit of observed counts against reference shares."""
    o, ref = _align(observed, reference)
    total = float(pd.Series(observed).sum()) if isinstance(observed, pd.Series) else float(_counts(observed).sum())
    o = o * total
    keep = ref > 0
    if (o[~keep] > 0).any():
        raise NotComputableError("observed counts in a category the reference gives zero share: chi-square is infinite")
    res = stats.chisquare(o[keep], ref[keep] * total)
    return GoodnessOfFit(float(res.statistic), float(res.pvalue), int(keep.sum() - 1), round(total))


def bootstrap_statistic(
    counts, statistic, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0, unit: str = "counted unit"
) -> Estimate:
    """Interval for ``statistic(counts)`` by resampling the counted units multinomially.

    Suits statistics of a distribution over categories (entropy, effective number, JSD to a fixed
    reference). For per-contributor counts (Gini, top share) resample contributors instead: see
    :func:`bootstrap_units`. ``unit`` names what is counted ("message"), for the reason given
    where every resample is alike (one category) and there is no interval.
    """
    x = _counts(counts)
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(int(x.sum()), x / x.sum(), size=n_resamples)
    values = np.array([statistic(s) for s in samples])
    method = "percentile bootstrap, counted units drawn multinomially"
    n = int(x.sum())
    return bootstrap_estimate(statistic(x), values, confidence, n, method, units=n, unit=unit)


def bootstrap_units(
    counts, statistic, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0, unit: str = "unit"
) -> Estimate:
    """Interval for a statistic of per-unit counts (e.g. messages per contributor) by resampling units.

    ``unit`` names what is resampled ("contributor"), for the reason given where there is no
    interval (one unit, or every resample alike)."""
    x = _counts(counts)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    values = _gini_of_resamples(x, idx) if statistic is gini else np.array([statistic(x[i]) for i in idx])
    method = "percentile bootstrap over units"
    return bootstrap_estimate(statistic(x), values, confidence, int(x.size), method, units=int(x.size), unit=unit)


def _gini_of_resamples(x: np.ndarray, idx: np.ndarray, chunk: int = 64) -> np.ndarray:
    """:func:`gini` of each resample ``x[idx[b]]`` without sorting it: from how often each unit was
    drawn. With the units in ascending order, a unit drawn m times whose copies end at rank c holds
    ranks c − m + 1 … c, whose (2i − n − 1) add up to m (2c − m − n)."""
    order = np.argsort(x, kind="stable")
    ascending, rank_of = x[order].astype(float), np.empty(x.size, dtype=np.intp)
    rank_of[order] = np.arange(x.size)
    n = x.size
    out = np.empty(len(idx))
    for start in range(0, len(idx), chunk):  # bounded memory: chunk x units counts
        rows = rank_of[idx[start : start + chunk]]
        size = len(rows)
        drawn = np.bincount((rows + (np.arange(size) * n)[:, None]).ravel(), minlength=size * n).reshape(size, n)
        end = np.cumsum(drawn, axis=1)
        total = (drawn * ascending).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = (drawn * (2 * end - drawn - n) * ascending).sum(axis=1) / (n * total)
        out[start : start + size] = np.where(total == 0, 0.0, g)
    return out


# --------------------------------------------------------------------------- datasets


def tallies(dataset, *, label: str = "quality") -> dict:
    """The counts behind the dataset measures of this module, which add across partitions, from a
    Dataset or its :class:`~oasst_quality.adapter.Tables` (the messages and labels tables).

    ``lang``: messages per language; ``users``: per contributor, messages and the sum, sum of
    squares and number of ``label`` values on their messages (a frame indexed by ``author``);
    ``lang_values``: the same sums per language; ``no_user``: those of messages without a user id.
    """
    m = adapter.messages(dataset)[["item", "lang", "author"]]
    joined = m.merge(adapter.label_rows(dataset, label)[["item", "value"]], on="item", how="left")
    v = joined["value"].astype(float)
    parts = pd.DataFrame(
        {"n_messages": 1.0, "n": v.notna().astype(float), "sum": v.fillna(0), "sumsq": v.fillna(0) ** 2}
    )
    users = parts.groupby(joined["author"].to_numpy()).sum()
    users.index.name = "author"
    langs = parts.groupby(joined["lang"].fillna("unknown").to_numpy()).sum()
    return {
        "lang": {str(k): int(c) for k, c in langs["n_messages"].items()},
        "users": users,
        "lang_values": langs.drop(columns="n_messages"),
        "no_user": parts[joined["author"].isna().to_numpy()].sum(),
    }


def _by_count(counts: dict[str, int] | pd.Series) -> pd.Series:
    """Counts most first, ties by key: one canonical order, so that seeded bootstraps do not depend
    on the order the data came in."""
    series = pd.Series(counts, dtype=float)
    order = np.lexsort((series.index.astype(str), -series.to_numpy()))
    return series.iloc[order]


def contributor_concentration(dataset, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """How concentrated the work is: messages per contributor (the messages' ``author``).

    Returns counts, Gini with a bootstrap interval over contributors, the share of the top 1 % and
    top 10 contributors, the effective number of contributors, and the Lorenz curve.
    """
    return concentration_from_tallies(tallies(dataset), n_resamples=n_resamples, seed=seed)


def concentration_from_tallies(t: dict, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """:func:`contributor_concentration` from :func:`tallies` (merged over any partitions)."""
    per_user = _by_count(t["users"]["n_messages"])
    if per_user.empty:
        return {"n_contributors": 0, "note": "the export carries no user_id"}
    x = per_user.to_numpy()
    g = bootstrap_units(x, gini, n_resamples=n_resamples, seed=seed, unit="contributor")
    lx, ly = lorenz_curve(x)
    return {
        "n_contributors": int(per_user.size),
        "n_messages": int(x.sum()),
        "gini": g.to_dict(),
        "top_1pct_share": top_share(x, 0.01),
        "top_10_share": top_share(x, 10),
        "effective_contributors": effective_number(x),
        "max_messages_by_one": int(x[0]),
        "lorenz": {"x": lx.tolist(), "y": ly.tolist()},
    }


def language_skew(dataset, *, reference: pd.Series | None = None, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Language mix of the messages: counts, entropy and effective number with intervals, top share,
    and, given a reference distribution (e.g. speakers or a target mix), JSD and a chi-square test."""
    counts = adapter.messages(dataset)["lang"].fillna("unknown").value_counts()
    return language_from_counts(counts.to_dict(), reference=reference, n_resamples=n_resamples, seed=seed)


def language_from_counts(
    counts: dict[str, int], *, reference: pd.Series | None = None, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """:func:`language_skew` from messages per language (merged over any partitions)."""
    counts = _by_count(counts).astype(int)
    out = {
        "counts": {str(k): int(v) for k, v in counts.items()},
        "n_languages": int(counts.size),
        "entropy_bits": bootstrap_statistic(
            counts.to_numpy(), entropy, n_resamples=n_resamples, seed=seed, unit="message"
        ).to_dict(),
        "effective_languages": bootstrap_statistic(
            counts.to_numpy(), effective_number, n_resamples=n_resamples, seed=seed, unit="message"
        ).to_dict(),
        "top_language_share": top_share(counts.to_numpy(), 1),
    }
    if reference is not None:
        out["jsd_to_reference_bits"] = jensen_shannon(counts, reference)
        test = chi_square_test(counts, reference)
        out["chi_square"] = {"statistic": test.statistic, "p_value": test.p_value, "dof": test.dof}
    return out


def demographic_skew(observed: pd.Series, reference: pd.Series = OASST_SURVEY_GENDER) -> dict:
    """Compare survey counts of any categorical field (gender, age band, ...) with reference shares."""
    p, q = _align(observed, reference)
    test = chi_square_test(observed, reference)
    index = pd.Series(observed, dtype=float).index.union(pd.Series(reference, dtype=float).index)
    return {
        "observed_share": dict(zip(map(str, index), p.tolist())),
        "reference_share": dict(zip(map(str, index), q.tolist())),
        "jsd_bits": jensen_shannon(observed, reference),
        "chi_square": {"statistic": test.statistic, "p_value": test.p_value, "dof": test.dof, "n": test.n},
    }


def summary(dataset, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Every dataset measure of this module at once (the CLI's ``skew`` and the report show it)."""
    return summary_from_tallies(tallies(dataset), n_resamples=n_resamples, seed=seed)


def summary_from_tallies(t: dict, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """:func:`summary` from :func:`tallies` (merged over any partitions): ``language``,
    ``contributors`` (with the Lorenz curve), ``quality_by_language``, and with contributor ids
    ``quality_by_contributor_decile`` and ``without_top_1pct`` (else None; None too where the
    label's votes cannot give the means)."""
    conc = concentration_from_tallies(t, n_resamples=n_resamples, seed=seed)
    known = bool(conc.get("n_contributors"))
    try:
        without_top = without_top_from_tallies(t) if known else None
    except NotComputableError:
        without_top = None
    return {
        "language": language_from_counts(t["lang"], n_resamples=n_resamples, seed=seed),
        "contributors": conc,
        "quality_by_language": groups_from_tallies(t, by="lang"),
        "quality_by_contributor_decile": groups_from_tallies(t, by="contributor_decile") if known else None,
        "without_top_1pct": without_top,
    }


def contributor_deciles(per_user: pd.Series) -> pd.Series:
    """Each contributor's decile of the messages, 1 = most prolific: contributors sorted by how many
    messages they wrote (ties by id), each placed whole at the middle of their share of the messages."""
    ordered = _by_count(per_user)
    end = ordered.cumsum()
    middle = (end - ordered / 2) / ordered.sum()
    return pd.Series(np.ceil(middle.to_numpy() * 10).clip(1, 10).astype(int), index=ordered.index)


def quality_by_group(dataset, *, label: str = "quality", by: str = "lang", min_messages: int = 20) -> pd.DataFrame:
    """Mean of a label per group (language, or ``"contributor_decile"``: see :func:`contributor_deciles`)
    with a normal 95 % interval (``low``, ``high`` empty where every value is alike: no spread to show)."""
    return groups_from_tallies(tallies(dataset, label=label), by=by, min_messages=min_messages)


def groups_from_tallies(t: dict, *, by: str = "lang", min_messages: int = 20) -> pd.DataFrame:
    """:func:`quality_by_group` from :func:`tallies` (merged over any partitions)."""
    if by == "contributor_decile":
        users = t["users"]
        sums = users[["n", "sum", "sumsq"]].groupby(contributor_deciles(users["n_messages"]).reindex(users.index)).sum()
    elif by == "lang":
        sums = t["lang_values"].sort_index()
    else:
        raise UsageError(f"by must be 'lang' or 'contributor_decile', got {by!r}")
    sums = sums[sums["n"] > 0]
    n = sums["n"]
    mean = sums["sum"] / n
    sd = np.sqrt(((sums["sumsq"] - n * mean**2) / (n - 1)).clip(lower=0)).where(n > 1)
    out = pd.DataFrame({"n": n.astype(int), "mean": mean, "sd": sd})
    half = (1.96 * out["sd"] / np.sqrt(out["n"])).where(out["sd"] > 0)  # every value alike: no interval
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    out.index.name = by
    return out[out["n"] >= min_messages].reset_index()


def without_top_contributors(dataset, *, label: str = "quality", top: float = 0.01) -> dict:
    """How the label's mean moves when the most prolific ``top`` fraction of contributors is left out."""
    return without_top_from_tallies(tallies(dataset, label=label), label=label, top=top)


def without_top_from_tallies(t: dict, *, label: str = "quality", top: float = 0.01) -> dict:
    """:func:`without_top_contributors` from :func:`tallies` (merged over any partitions).

    Raises NotComputableError when no message carries the label, or when every message that
    does was written by the top contributors (no mean is left without them).
    """
    users = t["users"].loc[_by_count(t["users"]["n_messages"]).index]
    n_top = max(1, int(np.ceil(top * len(users)))) if len(users) else 0
    rest = users.iloc[n_top:]
    total = users.sum() + t["no_user"].reindex(users.columns, fill_value=0)
    rest_sum = rest[["n", "sum"]].sum() + t["no_user"].reindex(["n", "sum"], fill_value=0)
    if not total["n"]:
        raise NotComputableError(f"no message carries the label {label!r}")
    if not rest_sum["n"]:
        raise NotComputableError(f"every message labelled {label!r} was written by the top {n_top} contributors")
    return {
        "label": label,
        "n_top_contributors": n_top,
        "share_of_messages_by_them": float(users["n_messages"].iloc[:n_top].sum() / total["n_messages"]),
        "mean_all": float(total["sum"] / total["n"]),
        "mean_without_top": float(rest_sum["sum"] / rest_sum["n"]),
    }


def agreement_by_group(
    dataset, *, label: str = "spam", by: str = "lang", min_messages: int = 50, n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """A flag's agreement (alpha with a bootstrap interval, percent agreement) per group.

    ``by``: ``"lang"`` or ``"contributor_decile"`` (deciles of the message authors by how many
    messages they wrote, 1 = most prolific). Votes come from the export's (value, count), as in
    :func:`oasst_quality.published.agreement_from_labels`; groups with fewer than ``min_messages``
    messages with two or more votes, or with no variation, are left out.
    """
    from . import agreement as ag
    from .estimate import no_interval_field
    from .published import flag_value_counts

    m = adapter.messages(dataset)[["item", "lang", "author"]].copy()
    if by == "contributor_decile":
        m[by] = m["author"].map(contributor_deciles(m["author"].value_counts())).astype("Int64")
    counts, ids, _ = flag_value_counts(adapter.labels(dataset), label)
    group = m.set_index("item")[by].reindex(ids).to_numpy()
    rows = []
    for key in pd.unique(group[pd.notna(group)]):
        sub = counts[group == key]
        sub = sub[sub.sum(axis=1) >= 2]
        if len(sub) < min_messages or (sub.sum(axis=0) == 0).any():
            continue
        r = ag.ratings(value_counts=sub, value_domain=np.array([0.0, 1.0]))
        ci = ag.bootstrap(r, "alpha", level="nominal", n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                by: key,
                "n_messages": len(sub),
                "yes_share": float(sub[:, 1].sum() / sub.sum()),
                "alpha": ci.estimate,
                "alpha_low": ci.low,
                "alpha_high": ci.high,
                "percent_agreement": ag.percent_agreement(r),
                **no_interval_field(ci, "alpha"),
            }
        )
    return pd.DataFrame(rows)
