"""What per-annotator data shows that the public aggregates cannot: the summaries the CLI and the
report share.

:func:`summarize` takes :class:`~oasst_quality.annotations.Annotations` (and, optionally, the
export's merged rankings to compare with) and returns one JSON-ready dict:

* ``labels``: per label, Krippendorff's alpha with a bootstrap interval at the label's level
  (declared, else inferred: flags and codes nominal, Likert interval), Fleiss' kappa and Gwet's AC1
  (nominal) or AC2 with quadratic weights (ordered), and the counts it rests on;
* ``annotators``: per (label, annotator), Dawid-Skene's expected accuracy, MACE's competence and,
  for Likert labels, the ordinal model's expected absolute error in scale steps;
* ``rankings``: the ranked-pairs consensus of the raw rankings, compared with the export's ranks
  (share identical, mean Kendall tau), the rankers' pairwise agreement under FastChat's
  conventions (with and without ties), and per ranker the verdict of
  :func:`oasst_quality.verdicts.annotators.ranking_verdicts`;
* ``verdicts``, ``suspects``, ``levels``: :func:`oasst_quality.verdicts.annotators.summary`, one
  row per annotator and source with reliability, interval, verdict, rule and evidence, the
  suspects among them, and the level each label was read at.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import aggregation as agg
from . import agreement as ag
from ._aside import InThread
from ._util import one_blas_thread
from .coding import Ratings, code_values, encode
from .consensus import _kendall_taus, consensus_ranks, pairwise_agreements
from .errors import NotComputableError
from .estimate import no_interval_field
from .schema import label_kind
from .verdicts.annotators import Codes


def _single_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes of known annotators (aggregated rows and anonymous votes cannot show an annotator);
    ``votes`` itself, not a copy, when every row is one."""
    keep = (votes["count"] == 1) & votes["annotator"].notna()
    return votes if keep.all() else votes[keep]


class _Label(NamedTuple):
    """One label's single votes as :func:`_per_label` codes them."""

    name: str
    level: str
    n_votes: int
    coded: Ratings
    votes: pd.DataFrame | None  # the label's votes, kept only where some are not coded (no value): counted apart


def _per_label(votes: pd.DataFrame, levels: str | dict | None, codes: Codes | None = None) -> list[_Label]:
    """Per label (sorted): its level and its single votes' coding (items and annotators sorted, as
    :func:`~oasst_quality.coding.encode`), coded once for the agreement statistics and every annotator model
    (``codes``: the :class:`~oasst_quality.verdicts.annotators.Codes` of ``votes``, where every vote is single)."""
    from .verdicts.annotators import _levels

    single = votes if codes is not None else _single_votes(votes)
    if not len(single):
        return []
    # items and annotators numbered once over all labels, in sorted order: a label's sorted ids are
    # the sorted ids of all labels with the others left out, so each label gets encode's codes
    codes = Codes.of(single) if codes is None else codes
    level_of = _levels(single, levels, codes.labels, "value")
    item, items, annotator, annotators = codes.item, codes.items, codes.annotator, codes.annotators
    values, codable = single["value"].to_numpy(), (single["value"].notna() & (item >= 0)).to_numpy()
    out = []
    for label, rows in sorted(codes.labels.items()):
        if codable[rows].all():
            ratings = _ratings(values[rows], item[rows], items, annotator[rows], annotators)
            out.append(_Label(label, level_of[label], rows.size, ratings, None))
        else:  # votes without a value, or without an item: encode's own way
            sub = single.iloc[rows]
            out.append(_Label(label, level_of[label], rows.size, encode(sub), sub))
    return out


def _ratings(
    values: np.ndarray, item: np.ndarray, items: pd.Index, annotator: np.ndarray, annotators: pd.Index
) -> Ratings:
    """:func:`~oasst_quality.coding.encode`'s Ratings of votes whose items and annotators are coded
    already over a larger table (``item`` into its sorted ``items``, ``annotator`` into its sorted
    ``annotators``): the codes renumbered over the ids these votes hold."""
    item_code, item_held = _renumber(item, len(items))
    annotator_code, annotator_held = _renumber(annotator, len(annotators))
    domain, codes = code_values(values)
    return Ratings(
        item_code,
        annotator_code,
        codes,
        domain,
        int(item_held.sum()),
        int(annotator_held.sum()),
        items[item_held],
        annotators[annotator_held],
    )


def _renumber(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (into ``n`` ids) numbered 0, 1, ... over the ids they hold, in the same order, and
    which of the ``n`` ids they hold."""
    held = np.bincount(codes, minlength=n) > 0
    return (np.cumsum(held) - 1)[codes], held


def agreement_from_votes(
    votes: pd.DataFrame, *, levels: str | dict | None = None, n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Agreement per label from single votes: alpha at the label's level (``levels``: declared, one
    for all or per label, else :func:`oasst_quality.verdicts.annotators.infer_level`) with its
    interval, and the kappa that applies (Fleiss and AC1 for nominal labels, AC2 with quadratic
    weights for ordered ones)."""
    return _agreement(_per_label(votes, levels), n_resamples, seed)


def _agreement(per_label: list[_Label], n_resamples: int, seed: int) -> pd.DataFrame:
    rows = []
    for label, level, n_votes, r, _ in per_label:
        likert = level != "nominal"
        row = {
            "label": label,
            "level": level,
            "n_items": r.n_items,
            "n_annotators": r.n_annotators,
            "n_votes": n_votes,
        }
        try:
            ci = ag.bootstrap(r, "alpha", level=level, n_resamples=n_resamples, seed=seed)
            row.update(alpha=ci.estimate, alpha_low=ci.low, alpha_high=ci.high, computable=True, reason="")
            row.update(no_interval_field(ci, "alpha"))
            if likert:
                row["gwet_ac2_quadratic"] = ag.gwet_ac2(r, weights="quadratic")
            else:
                row.update(fleiss_kappa=ag.fleiss_kappa(r), gwet_ac1=ag.gwet_ac1(r))
        except NotComputableError as exc:
            row.update(computable=False, reason=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def annotator_models(votes: pd.DataFrame, *, levels: str | dict | None = None) -> pd.DataFrame:
    """Per (label, annotator): votes, Dawid-Skene accuracy, MACE competence, the correlation with
    the others' mean (ordered labels only: class codes are not numbers), ordinal MAE (Likert)."""
    return _models(_per_label(votes, levels))[0]


def _models(per_label: list[_Label]) -> tuple[pd.DataFrame, dict]:
    """The annotator models' table, and per label its Dawid-Skene fit with the coded votes (the verdicts reuse it)."""
    out, fits = [], {}
    for label, level, _, coded, sub in per_label:
        if sub is None:  # every vote coded: the distinct items and values are the codes'
            n_items, n_values = coded.n_items, coded.values.size
        else:
            n_items, n_values = sub["item"].nunique(), sub["value"].nunique()
        if n_items < 2 or n_values < 2:
            continue
        ds = agg.DawidSkene().fit_ratings(coded)
        fits[label] = (ds, coded)
        mace = agg.MACE().fit_ratings(coded)
        if sub is None:
            n_votes = np.bincount(coded.annotator, minlength=coded.n_annotators)
            zero_share = np.bincount(coded.annotator, coded.values[coded.code] == 0, coded.n_annotators) / n_votes
        else:
            n_votes = sub.groupby("annotator").size().reindex(coded.annotators).to_numpy()
            zero_share = (sub["value"] == 0).groupby(sub["annotator"]).mean().reindex(coded.annotators).to_numpy()
        frame = pd.DataFrame(
            {
                "label": label,
                "annotator": ds.annotator_reliability_.index,
                "n_votes": n_votes,
                "ds_accuracy": ds.annotator_reliability_.to_numpy(),
                "mace_competence": mace.annotator_reliability_.reindex(ds.annotator_reliability_.index).to_numpy(),
                "corr_with_others": agg._loo_correlation(coded, coded.value) if level != "nominal" else np.nan,
                "zero_share": zero_share,
            }
        )
        if label_kind(label) == "likert" and n_values > 2:
            ordinal = agg.OrdinalDawidSkene().fit_ratings(coded)
            frame["ordinal_mae_steps"] = ordinal.annotator_mae_.reindex(frame["annotator"]).to_numpy()
        out.append(frame)
    return (pd.concat(out, ignore_index=True) if out else pd.DataFrame()), fits


def ranking_checks(
    rankings: pd.DataFrame, export: pd.DataFrame | None = None, *, n_resamples: int = 1000, seed: int = 0
) -> dict:
    """The raw rankings' consensus against the export's ranks, their pairwise agreement, and each ranker's verdict.

    ``pairwise_agreement`` (ties left out) and ``pairwise_agreement_with_ties``: FastChat's
    human-human convention (:func:`oasst_quality.consensus.pairwise_agreement`). ``rankers``: one
    row per ranker from :func:`oasst_quality.verdicts.annotators.ranking_verdicts` (agreement with
    the other rankers of each set on the pairs both order, and the verdict).
    """
    from .verdicts.annotators import ranking_verdicts

    table = rankings.reset_index(drop=True)
    merged = consensus_ranks(table)
    out: dict = {"n_groups": len(merged), "n_rankings": len(table)}
    both = pairwise_agreements(table, ties=(False, True), n_resamples=n_resamples, seed=seed)
    for key, ties in (("pairwise_agreement", False), ("pairwise_agreement_with_ties", True)):
        res = both[ties]
        out[key] = {"computable": False, "reason": str(res)} if isinstance(res, NotComputableError) else res.to_dict()
    if export is not None and len(export):
        ref = pd.Series(export["ranking"].map(tuple).to_numpy(), index=export["group"].to_numpy())
        ref = ref[~ref.index.duplicated(keep="last")]  # a group given twice: its last ranking
        both = merged[merged["group"].isin(ref.index)]
        ref = pd.Series(ref.reindex(both["group"].to_numpy()).to_numpy(), dtype=object)
        mine = pd.Series(both["consensus"].to_numpy(), dtype=object)
        same = np.fromiter(map(operator.eq, mine, ref), dtype=bool, count=len(mine))  # tuples compared in C
        taus = _kendall_taus(ref, mine)
        defined = taus[np.isfinite(taus)]  # tau needs two replies that are not tied in both orders
        out["vs_export"] = {
            "n_groups": len(both),
            "share_identical": float(np.mean(same)) if len(same) else None,
            "mean_tau": float(defined.mean()) if len(defined) else None,
        }
    out["rankers"] = ranking_verdicts(table) if "annotator" in table.columns else pd.DataFrame()
    return out


def _vote_summaries(
    votes: pd.DataFrame, levels: str | dict | None, n_resamples: int, seed: int, codes: Codes | None = None
) -> tuple[dict, dict]:
    """Agreement per label and the annotator models, and the models' Dawid-Skene fits (which the
    verdicts reuse); each label's votes and coding, which both share, are freed on return (before
    the verdicts need memory of their own)."""
    per_label = _per_label(votes, levels, codes)
    labels = _agreement(per_label, n_resamples, seed)
    models, fits = _models(per_label)
    return {"labels": labels, "annotators": models}, fits


def summarize(
    annotations,
    *,
    export_rankings: pd.DataFrame | None = None,
    levels: str | dict | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Every per-annotator summary at once (see the module's docstring); JSON-ready after ``jsonable``.

    The ranking checks run in a second thread while this one summarizes the votes (their results,
    draws and errors are the same as in line; an error in either is raised here)."""
    from .verdicts.annotators import summary

    votes, rankings = annotations.votes, annotations.rankings
    out: dict = {"summary": annotations.summary()}
    with one_blas_thread():  # the products here are of votes x classes arrays: tall and narrow
        fits = codes = None
        # the ranking checks share nothing with the vote summaries: they run in a second thread, overlapping
        # where either releases the GIL (numpy's large-array loops, scipy's sparse products); BLAS's limit is global
        checks = None
        if len(rankings):
            checks = InThread(
                lambda: ranking_checks(rankings, export_rankings, n_resamples=n_resamples, seed=seed),
                name="oasst-quality ranking checks",
            )
        if len(votes):
            # the votes' ids coded once, for the agreement, the models and the verdicts, where every vote is single
            codes = Codes.of(votes) if _single_votes(votes) is votes else None
            summaries, fits = _vote_summaries(votes, levels, n_resamples, seed, codes)
            out |= summaries
        if checks is not None:
            out["rankings"] = checks.result()
        # the rankers' verdicts of ranking_checks (the same rankings and default thresholds) are not computed twice
        rankers = out["rankings"]["rankers"] if len(rankings) and "annotator" in rankings.columns else None
        verdicts = summary(
            votes if len(votes) else None,
            rankings if len(rankings) else None,
            levels=levels,
            rankers=rankers,
            fits=fits,
            codes=codes,
        )
    out["verdicts"] = verdicts["annotators"]
    out["levels"] = verdicts["levels"]
    out["suspects"] = verdicts["suspects"]
    return out
