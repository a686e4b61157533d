"""Summaries that the CLI prints and a script can call: one analysis's payload, as a JSON-ready dict.

Each function takes tables (a Dataset's, :func:`oasst_quality.adapter.tables`, or per-annotator
ones from :mod:`oasst_quality.annotations`) and returns the numbers and frames a command shows;
the CLI only parses arguments, calls one of these and prints. Column names become OASST's
(``message_id``) here, at the edge.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .adapter import Tables
from .errors import UsageError

if TYPE_CHECKING:
    from .annotations import Annotations


# --------------------------------------------------------------------------- per-annotator tables


def votes_agreement(votes: pd.DataFrame, *, level: str = "nominal", n_resamples: int = 1000, seed: int = 0) -> dict:
    """Agreement of one label's votes (``item, annotator, value``): alpha with a bootstrap interval,
    Fleiss' kappa (not on an interval scale), Gwet's AC1, percent agreement, and the ten annotators
    whose removal raises alpha most."""
    from . import agreement as ag

    r = ag.ratings(votes)
    loo = ag.annotator_agreement(votes, level)
    return {
        "alpha": ag.bootstrap(r, "alpha", level=level, n_resamples=n_resamples, seed=seed).to_dict(),
        "fleiss_kappa": ag.fleiss_kappa(r) if level != "interval" else None,
        "gwet_ac1": ag.gwet_ac1(r),
        "percent_agreement": ag.percent_agreement(r),
        "annotators_lowering_agreement": loo.sort_values("delta", ascending=False).head(10),
    }


def votes_aggregate(votes: pd.DataFrame, *, method: str = "dawid_skene", seed: int = 0) -> dict:
    """One label's votes aggregated by ``method`` (:data:`oasst_quality.aggregation.METHODS`): an
    estimate per item, each annotator's reliability, and for categorical methods the annotators
    flagged as unreliable (:func:`oasst_quality.aggregation.flag_annotators`)."""
    from . import aggregation as agg

    if method not in agg.METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(agg.METHODS)}")
    model = agg.METHODS[method](seed=seed).fit(votes)
    flagged = None
    if method in agg.CATEGORICAL_METHODS:
        flagged = agg.flag_annotators(votes).reset_index().rename(columns={"index": "annotator"})
    return {
        "method": method,
        "estimates": model.labels_.rename("estimate").reset_index().rename(columns={"index": "item"}),
        "annotator_reliability": model.annotator_reliability_.rename("reliability").reset_index(),
        "flagged_annotators": flagged,
    }


def rankings_consensus(rankings: pd.DataFrame, *, method: str = "ranked_pairs") -> dict:
    """Per-ranker rankings (``group, annotator, ranking``) merged into one order per group by
    ``method`` (:data:`oasst_quality.consensus.METHODS`), with the diagnostics of
    :func:`oasst_quality.consensus.diagnostics`."""
    from . import consensus as cs

    if method == "ranked_pairs":
        merged = cs.consensus_ranks(rankings)
    else:
        groups = rankings.groupby("group", sort=False)["ranking"]
        merged = pd.DataFrame(
            {
                "group": list(groups.groups),
                "consensus": [tuple(cs.consensus(list(g), method)) for _, g in groups],
            }
        )
    return {"method": method, "consensus": merged, "diagnostics": cs.diagnostics(rankings)}


def per_annotator(annotations: Annotations, t: Tables, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """The per-annotator summary of :func:`oasst_quality.per_annotator.summarize`, against the
    export's merged ranks (the report's annotators section reads the same)."""
    from .per_annotator import summarize

    return summarize(annotations, export_rankings=t.rankings, n_resamples=n_resamples, seed=seed)


# --------------------------------------------------------------------------- a dataset's tables


def labels_agreement(t: Tables, *, label: str | None = None, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Agreement per label from the published (value, count) pairs (one ``label`` or all)."""
    from . import published

    _check_label(t, label)
    labels = [label] if label else None
    return {"labels": published.agreement_from_labels(t.labels, labels=labels, n_resamples=n_resamples, seed=seed)}


def _check_label(t: Tables, label: str | None) -> None:
    """A :class:`UsageError` naming the labels there are, when ``label`` is not one of them."""
    present = sorted(t.labels["label"].unique())
    if label is not None and label not in present:
        raise UsageError(f"label {label!r} is not in the export (it has: {', '.join(present) or 'no labels'})")


def labels_aggregate(t: Tables, *, label: str | None = None) -> dict:
    """Posterior means per label (empirical Bayes, 95% intervals) and the default-to-zero test (one
    ``label`` or all; the models are fitted on every label either way)."""
    from . import published

    _check_label(t, label)
    patterns = published.grid_patterns(t.labels)
    fits = published.label_fits(patterns)  # the priors and the default-to-zero fits, once for both tables
    out = {
        "posteriors": published.summary_from_patterns(patterns, priors=fits.priors),
        "default_zero_bias": fits.zero_bias[0],
    }
    return out if label is None else {k: v[v["label"] == label].reset_index(drop=True) for k, v in out.items()}


def language_mismatches(t: Tables, *, backend: str | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Declared against detected language: counts, the table per declared language, and each
    mismatch with the start of its text."""
    from . import language as lg

    table = lg.mismatches(t.messages, backend=backend, seed=seed, progress=progress)
    flagged = table[table["mismatch"]].merge(t.messages[["item", "text"]], on="item")
    flagged["text"] = flagged["text"].str.slice(0, 120)
    flagged = flagged.rename(columns={"item": "message_id"})  # OASST's name, at the edge
    return {
        "backend": backend or lg.DEFAULT_BACKEND,
        "n_decidable": int(table["decidable"].sum()),
        "n_mismatches": int(table["mismatch"].sum()),
        "by_declared_language": lg.mismatch_table(table),
        "mismatches": flagged,
    }


def flags_summary(table: pd.DataFrame) -> dict:
    """The curation table in counts: flags, messages, and flags per (kind, severity), most severe first."""
    counts = table.groupby(["kind", "severity"], observed=True).size()
    return flags_summary_from_counts(counts, int(table["message_id"].nunique()))


def flags_summary_from_counts(counts: pd.Series, n_messages: int) -> dict:
    """:func:`flags_summary` from the flags per (kind, severity) and the number of flagged messages
    (what the Dask engine's partitions add up, their tables staying on disk)."""
    from .flags import SEVERITIES

    counts = counts[counts > 0].astype(int).rename_axis(["kind", "severity"]).reset_index(name="n")
    rank = counts["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).astype(int)
    order = np.lexsort((counts["kind"].astype(str).to_numpy(), -counts["n"].to_numpy(), rank.to_numpy()))
    return {
        "n_flags": int(counts["n"].sum()),
        "n_messages": n_messages,
        "by_kind": counts.iloc[order].reset_index(drop=True),
    }


# --------------------------------------------------------------------------- files


def noise_study_files(study: Any) -> dict[str, bytes | str]:
    """A :class:`~oasst_quality.reward.NoiseStudyResult` as the files ``noise-study`` writes: every
    run (``runs.csv``), the result (``study.json``) and the plot (``accuracy_vs_noise.png``)."""
    png = io.BytesIO()
    study.plot(png)
    return {
        "runs.csv": study.runs.to_csv(index=False),
        "study.json": study.to_json(),
        "accuracy_vs_noise.png": png.getvalue(),
    }
