"""What per-annotator data shows that the public aggregates cannot: the summaries the CLI and the
report share.

:func:`summarize` takes :class:`~oasst_quality.annotations.Annotations` (and, optionally, the
export's merged rankings to compare with) and returns one JSON-ready dict:

* ``labels``: per label, Krippendorff's alpha with a bootstrap interval (interval level for Likert
  labels, nominal for flags), Fleiss' kappa and Gwet's AC1 (flags) or AC2 with quadratic weights
  (Likert), and the counts it rests on;
* ``annotators``: per (label, annotator), Dawid-Skene's expected accuracy, MACE's competence and,
  for Likert labels, the ordinal model's expected absolute error in scale steps;
* ``rankings``: the ranked-pairs consensus of the raw rankings, compared with the export's ranks
  (share identical, mean Kendall tau), and per ranker the mean tau against the consensus of the
  *other* rankers of each set with a one-sided test of "no better than chance";
* ``suspects``: annotators flagged as random answering (no positive correlation with the other
  annotators' mean on the same items, pooled over labels by Fisher's z), always-zero (95 % of a
  Likert label's votes at 0 where the median annotator has under half), reversed rankings (mean tau
  at most −0.5 against the others), copying the displayed order (80 % of rankings), or ranking no
  better than chance, each with its evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from . import aggregation as agg
from . import agreement as ag
from .consensus import _kendall_tau as _tau
from .consensus import consensus_ranks, pairwise_agreement, ranked_pairs_many
from .errors import NotComputableError
from .schema import label_kind

#: Thresholds of the suspect rules (each needs at least ``MIN_VOTES`` votes or ``MIN_RANKINGS`` rankings).
MIN_VOTES, MIN_RANKINGS = 10, 5


def _single_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes of known annotators (aggregated rows and anonymous votes cannot show an annotator)."""
    return votes[(votes["count"] == 1) & votes["annotator"].notna()]


def agreement_from_votes(votes: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Agreement per label from single votes: alpha with its interval, and the kappa that applies."""
    rows = []
    for label, sub in _single_votes(votes).groupby("label", sort=True):
        likert = label_kind(label) == "likert" or not set(sub["value"].unique()) <= {0.0, 1.0}
        level = "interval" if likert else "nominal"
        r = ag.ratings(sub)
        row = {
            "label": label,
            "level": level,
            "n_items": r.n_items,
            "n_annotators": r.n_annotators,
            "n_votes": len(sub),
        }
        try:
            ci = ag.bootstrap(r, "alpha", level=level, n_resamples=n_resamples, seed=seed)
            row.update(alpha=ci.estimate, alpha_low=ci.low, alpha_high=ci.high, computable=True, reason="")
            if likert:
                row["gwet_ac2_quadratic"] = ag.gwet_ac2(r, weights="quadratic")
            else:
                row.update(fleiss_kappa=ag.fleiss_kappa(r), gwet_ac1=ag.gwet_ac1(r))
        except NotComputableError as exc:
            row.update(computable=False, reason=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def annotator_models(votes: pd.DataFrame) -> pd.DataFrame:
    """Per (label, annotator): votes, Dawid-Skene accuracy, MACE competence, ordinal MAE (Likert)."""
    out = []
    for label, sub in _single_votes(votes).groupby("label", sort=True):
        if sub["item"].nunique() < 2 or sub["value"].nunique() < 2:
            continue
        ds = agg.DawidSkene().fit(sub)
        mace = agg.MACE().fit(sub)
        coded = agg._code(sub, "item", "annotator", "value")  # annotators sorted, as in the fits
        frame = pd.DataFrame(
            {
                "label": label,
                "annotator": ds.annotator_reliability_.index,
                "n_votes": sub.groupby("annotator").size().reindex(ds.annotator_reliability_.index).to_numpy(),
                "ds_accuracy": ds.annotator_reliability_.to_numpy(),
                "mace_competence": mace.annotator_reliability_.reindex(ds.annotator_reliability_.index).to_numpy(),
                "corr_with_others": agg._loo_correlation(coded, coded.value),
                "zero_share": sub.assign(z=sub["value"] == 0)
                .groupby("annotator")["z"]
                .mean()
                .reindex(ds.annotator_reliability_.index)
                .to_numpy(),
            }
        )
        if label_kind(label) == "likert" and sub["value"].nunique() > 2:
            ordinal = agg.OrdinalDawidSkene().fit(sub)
            frame["ordinal_mae_steps"] = ordinal.annotator_mae_.reindex(frame["annotator"]).to_numpy()
        out.append(frame)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def ranking_checks(
    rankings: pd.DataFrame, export: pd.DataFrame | None = None, *, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """The raw rankings' consensus against the export's ranks, and each ranker against the others.

    Each ranking is compared with the ranked-pairs consensus of the *other* rankings of its set
    (leaving the ranker out, so that their own ballot cannot make them agree). Under a ranker who
    orders k replies at random, tau has mean 0 and variance 2(2k + 5) / (9k(k − 1)); the one-sided
    p-value of "no better than chance" sums the ranker's taus against that null (normal
    approximation). ``pairwise_agreement`` is how often two rankers order a pair of replies alike
    (:func:`oasst_quality.consensus.pairwise_agreement`), the convention of the published bands.
    """
    table = rankings.reset_index(drop=True)
    merged = consensus_ranks(table)
    out: dict = {"n_groups": len(merged), "n_rankings": len(table)}
    try:
        out["pairwise_agreement"] = pairwise_agreement(table, n_resamples=n_resamples, seed=seed).to_dict()
    except NotComputableError as exc:
        out["pairwise_agreement"] = {"computable": False, "reason": str(exc)}
    if export is not None and len(export):
        ref = dict(zip(export["group"], export["ranking"].map(tuple)))
        both = merged[merged["group"].isin(ref)]
        same = [tuple(c) == ref[g] for g, c in zip(both["group"], both["consensus"])]
        taus = [_tau(ref[g], tuple(c)) for g, c in zip(both["group"], both["consensus"])]
        out["vs_export"] = {
            "n_groups": len(both),
            "share_identical": float(np.mean(same)) if same else None,
            "mean_tau": float(np.nanmean(taus)) if taus else None,
        }
    # leave-one-out consensus for every ranking whose set has other rankings
    groups = table.groupby("group", sort=False).indices
    rows, profiles = [], []
    for idx in groups.values():
        for i in idx:
            others = [table.at[j, "ranking"] for j in idx if j != i]
            if others:
                rows.append(i)
                profiles.append(others)
    orders = ranked_pairs_many(profiles) if profiles else []
    per = pd.DataFrame(
        {
            "annotator": table.loc[rows, "annotator"].to_numpy(),
            "tau": [_tau(tuple(o), table.at[i, "ranking"]) for i, o in zip(rows, orders)],
            "k": [len(o) for o in orders],
        }
    ).dropna()
    per = per[per["k"] >= 2]
    per["var0"] = 2 * (2 * per["k"] + 5) / (9 * per["k"] * (per["k"] - 1))
    rankers = per.groupby("annotator").agg(
        n_rankings=("tau", "size"), mean_tau=("tau", "mean"), s=("tau", "sum"), v=("var0", "sum")
    )
    rankers["p_no_better_than_chance"] = stats.norm.sf(rankers["s"] / np.sqrt(rankers["v"]))
    out["rankers"] = rankers.drop(columns=["s", "v"]).reset_index()
    return out


def suspects(models: pd.DataFrame, rankers: pd.DataFrame | None, rankings: pd.DataFrame | None) -> pd.DataFrame:
    """Annotators whose behaviour looks like noise, each with the rule and its evidence."""
    rows = []
    if len(models):
        enough = models["n_votes"] >= MIN_VOTES
        # random answering: no positive correlation with the other annotators, pooled over labels
        # (Fisher z per label, Stouffer's sum); a constant annotator has none and is judged below
        m = models[enough & models["corr_with_others"].notna()]
        z = np.arctanh(m["corr_with_others"].clip(-0.999999, 0.999999)) * np.sqrt(np.maximum(m["n_votes"] - 3, 1))
        pooled = z.groupby(m["annotator"]).agg(["sum", "size"])
        mean_r = m.groupby("annotator")["corr_with_others"].mean()
        for who, p in zip(pooled.index, stats.norm.sf(pooled["sum"] / np.sqrt(pooled["size"]))):
            if p > 0.05:
                n_labels = int(pooled.loc[who, "size"])
                evidence = f"mean correlation with the others {mean_r[who]:.2f} over {n_labels} labels (p = {p:.2f})"
                rows.append((who, "random_answering", evidence))
        likert = models["label"].map(label_kind).eq("likert")
        others = models.groupby("label")["zero_share"].transform("median")
        for r in models[enough & likert & (models["zero_share"] >= 0.95) & (others < 0.5)].itertuples():
            rows.append((r.annotator, "always_zero", f"{r.zero_share:.0%} of {r.n_votes} {r.label} votes are 0"))
    if rankers is not None and len(rankers):
        enough = rankers["n_rankings"] >= MIN_RANKINGS
        for r in rankers[enough & (rankers["mean_tau"] <= -0.5)].itertuples():
            rows.append(
                (
                    r.annotator,
                    "reversed_rankings",
                    f"mean tau {r.mean_tau:.2f} against the others over {r.n_rankings} rankings",
                )
            )
        for r in rankers[
            enough & (rankers["mean_tau"] > -0.5) & (rankers["p_no_better_than_chance"] > 0.05)
        ].itertuples():
            rows.append(
                (
                    r.annotator,
                    "rankings_at_chance",
                    f"mean tau {r.mean_tau:.2f}, p = {r.p_no_better_than_chance:.2f} over {r.n_rankings} rankings",
                )
            )
    if rankings is not None and "as_displayed" in rankings.columns:
        shown = rankings.dropna(subset=["as_displayed"]).groupby("annotator")["as_displayed"].agg(["mean", "size"])
        for who, r in shown[(shown["size"] >= MIN_RANKINGS) & (shown["mean"] >= 0.8)].iterrows():
            rows.append(
                (who, "copies_displayed_order", f"{r['mean']:.0%} of {int(r['size'])} rankings keep the order shown")
            )
    return pd.DataFrame(rows, columns=["annotator", "rule", "evidence"])


def summarize(
    annotations, *, export_rankings: pd.DataFrame | None = None, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """Every per-annotator summary at once (see the module's docstring); JSON-ready after ``jsonable``."""
    votes, rankings = annotations.votes, annotations.rankings
    out: dict = {"summary": annotations.summary()}
    models = annotator_models(votes) if len(votes) else pd.DataFrame()
    if len(votes):
        out["labels"] = agreement_from_votes(votes, n_resamples=n_resamples, seed=seed)
        out["annotators"] = models
    rankers = None
    if len(rankings):
        checks = ranking_checks(rankings, export_rankings, n_resamples=n_resamples, seed=seed)
        rankers = checks["rankers"]
        out["rankings"] = checks
    out["suspects"] = suspects(models, rankers, rankings if len(rankings) else None)
    return out
