"""The curation table: one row per (message, issue), to filter a dataset with one join.

:func:`curation_flags` gathers what the analyses found about single messages into one long table,
``message_id, kind, severity, evidence`` (plus ``label`` where the issue is about one label):

=========================== ======== ==============================================================
kind                        severity what it means
=========================== ======== ==============================================================
structural_problem          varies   an orphan, a cycle, a duplicate, a role or rank problem
toxic_by_model_not_humans   medium   Detoxify scores it toxic (>= 0.5); the human toxicity mean <= 0.25
toxic_by_humans_not_model   medium   humans call it toxic (mean >= 0.75); Detoxify scores < 0.1
default_zero_suspect        low      a Likert label likely holds a stored default 0: the most likely
                                     messages, no more than the label's all-zero excess
single_vote_label           low      a label's value rests on one vote (``all_rows`` only)
low_confidence_label        low      a Likert label's 95 % posterior interval is wider than 0.5
                                     (``all_rows`` only)
language_mismatch           medium   the detected language differs from the declared one
cyclic_ranking              medium   the raw rankings of the reply set (its parent) have a cycle
tie_broken_ranking          low      the reply set's consensus depends on the tie-break
suspect_annotator           medium   a suspect annotator voted on it or ranked its replies
=========================== ======== ==============================================================

Single-vote and wide-interval labels concern most messages of an OASST export, so they are
summarised per label (:func:`label_summary`) and listed per row only with ``all_rows=True``.
The language rows need a detection table (:func:`oasst_quality.language.mismatches`), and the
ranking and annotator rows need per-annotator data attached (:meth:`Dataset.with_annotations`).
:func:`flag_files` gives the table as the files written beside a report or by ``oasst-quality flags``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import adapter, published

if TYPE_CHECKING:
    from .annotations import Annotations
    from .dataset import Dataset

FLAG_COLUMNS = ["message_id", "kind", "severity", "label", "evidence"]
SEVERITIES = ("high", "medium", "low")

_STRUCTURAL_SEVERITY = {
    "cycle": "high",
    "duplicate_message": "high",
    "orphan": "medium",
    "multiple_roots": "medium",
    "role_alternation": "medium",
    "tree_id_mismatch": "medium",
}


def _rows(message_id, kind: str, severity, evidence, label=None) -> pd.DataFrame:
    return pd.DataFrame(
        {"message_id": message_id, "kind": kind, "severity": severity, "label": label, "evidence": evidence}
    )


def curation_flags(
    data: Dataset | adapter.Tables,
    *,
    languages: pd.DataFrame | None = None,
    annotations: Annotations | None = None,
    annotators: dict | None = None,
    fits: published.LabelFits | None = None,
    all_rows: bool = False,
) -> pd.DataFrame:
    """Every flagged (message, issue) of a Dataset or its tables (:func:`oasst_quality.adapter.tables`),
    most severe first.

    ``annotations``: per-annotator votes and rankings, for the ranking and annotator rows (default:
    those attached to the Dataset).
    ``languages``: the table of :func:`oasst_quality.language.mismatches`, for the language rows.
    ``annotators``: a :func:`oasst_quality.per_annotator.summarize` result, if one was computed
    already (else it is computed when annotations are attached).
    ``fits``: :func:`oasst_quality.published.label_fits` of the whole dataset when ``data``
    is one partition of it, so that the label models are fitted on all of it.
    ``all_rows``: list single-vote and wide-interval labels on every row (else :func:`label_summary`).
    """
    if not isinstance(data, adapter.Tables):
        annotations = data.annotations if annotations is None else annotations
        data = adapter.tables(data)
    parts = [_structural(data.problems), *_labels(data, fits, all_rows), _toxicity(data)]
    if languages is not None:
        parts.append(_language(languages))
    if annotations is not None:
        parts += _annotations(annotations, data.rankings, annotators)
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    table = pd.concat(parts, ignore_index=True)[FLAG_COLUMNS]
    return sort_flags(table)


def sort_flags(table: pd.DataFrame) -> pd.DataFrame:
    """Most severe first, then by kind, message, label and evidence: one order whatever the input's
    order or partitions (the Dask engine concatenates the tables of its partitions; an empty
    partition's table has no categories, so the severity order is set here, not inherited)."""
    table = table.assign(severity=pd.Categorical(table["severity"], categories=list(SEVERITIES), ordered=True))
    return table.sort_values(
        ["severity", "kind", "message_id", "label", "evidence"], kind="stable", na_position="first"
    ).reset_index(drop=True)


def _structural(problems: pd.DataFrame) -> pd.DataFrame:
    p = problems[problems["item"].notna()]
    return _rows(
        p["item"].to_numpy(),
        "structural_problem",
        p["kind"].map(_STRUCTURAL_SEVERITY).fillna("low").to_numpy(),
        (p["kind"] + ": " + p["detail"].astype(str)).to_numpy(),
    )


def _labels(t: adapter.Tables, fits: published.LabelFits | None, all_rows: bool = False) -> list[pd.DataFrame]:
    fits = published.label_fits(published.grid_patterns(t)) if fits is None else fits
    parts = [_default_zeros(t, fits)]
    if not all_rows:
        return parts
    post = published.oasst_posteriors(t, priors=fits.priors)
    one = post["single_vote"].astype(bool)  # an empty table's columns are untyped
    single = post.loc[one]
    wide = post.loc[(post["kind"] == "likert") & ~one & (post["high"].astype(float) - post["low"].astype(float) > 0.5)]
    return [
        *parts,
        _rows(
            single["item"].to_numpy(),
            "single_vote_label",
            "low",
            [f"{lab} = {v:.2f} from one vote" for lab, v in zip(single["label"], single["value"])],
            single["label"].to_numpy(),
        ),
        _rows(
            wide["item"].to_numpy(),
            "low_confidence_label",
            "low",
            [
                f"{lab}: mean {v:.2f} of {n} votes, 95% posterior {lo:.2f}-{hi:.2f}"
                for lab, v, n, lo, hi in zip(wide["label"], wide["value"], wide["count"], wide["low"], wide["high"])
            ],
            wide["label"].to_numpy(),
        ),
    ]


def _default_zeros(t: adapter.Tables, fits: published.LabelFits) -> pd.DataFrame:
    """The messages most likely to hold a stored default 0, no more per label than its all-zero excess.

    The default-to-zero model's per-message probability is an upper bound (it credits every zero
    the label's Beta prior cannot explain to the default), so it alone flagged nearly every message.
    Here a label whose test is significant gets at most E = (observed − expected all-zero share) ×
    its messages flags: the messages with the highest probability, a block of equal probabilities
    (one vote pattern) only where it fits whole. The threshold is set on the whole dataset's vote
    patterns (``fits.patterns``), so a partition flags exactly its share of the whole's rows.
    """
    table, per_label = fits.zero_bias
    significant = sorted(table.loc[table["p_value"] < published.ZERO_ALPHA, "label"]) if len(table) else []
    # fits without their patterns: this table's (exact when it is the whole dataset)
    patterns = fits.patterns if fits.patterns is not None or not significant else published.grid_patterns(t)
    table = table.set_index("label")
    kept = []
    for name in significant:
        row = table.loc[name]
        excess = max(row["all_zero_share"] - row["all_zero_expected_without_default"], 0.0) * row["n_messages"]
        per_pattern = per_label[name]
        counts = patterns.get(name, {})
        weight = np.array([counts.get((int(n), int(s)), 0) for n, s in zip(per_pattern["n"], per_pattern["s"])])
        p = per_pattern["p_defaulted"].to_numpy(float)
        # the lowest probability whose block of messages with p >= it still fits within the excess
        levels_desc = np.unique(p)[::-1]
        total = np.array([weight[p >= t].sum() for t in levels_desc])
        fits_whole = levels_desc[total <= excess]
        if fits_whole.size:  # only the messages of the patterns chosen are listed
            chosen = published.label_zero_messages(t, name, per_pattern[p >= fits_whole.min()])
            kept.append(chosen.assign(excess=excess))
    if not kept:
        return _rows([], "default_zero_suspect", "low", [])
    zeros = pd.concat(kept, ignore_index=True)
    return _rows(
        zeros["item"].to_numpy(),
        "default_zero_suspect",
        "low",
        [
            f"{lab}: mean {v:.2f} of {n} votes; P(a stored default 0) = {p:.2f}; one of the {e:.0f} messages "
            f"the label's all-zero excess allows"
            for lab, v, n, p, e in zip(
                zeros["label"], zeros["value"], zeros["count"], zeros["p_defaulted"], zeros["excess"]
            )
        ],
        zeros["label"].to_numpy(),
    )


def label_summary(
    data: Dataset | adapter.Tables | pd.DataFrame, *, fits: published.LabelFits | None = None
) -> pd.DataFrame:
    """Per label: how many messages rest on one vote and how many Likert labels have a 95 % posterior
    interval wider than 0.5 (``label, kind, n_messages, single_vote, wide_interval`` and their shares),
    what ``curation_flags`` lists row by row only with ``all_rows=True``."""
    labels = (
        data
        if isinstance(data, pd.DataFrame)
        else (data if isinstance(data, adapter.Tables) else adapter.tables(data)).labels
    )
    fits = published.label_fits(published.grid_patterns(labels)) if fits is None else fits
    post = published.oasst_posteriors(labels, priors=fits.priors)
    columns = [
        "label",
        "kind",
        "n_messages",
        "single_vote",
        "single_vote_share",
        "wide_interval",
        "wide_interval_share",
    ]
    if post.empty:
        return pd.DataFrame(columns=columns)
    one = post["single_vote"].astype(bool)
    wide = (post["kind"] == "likert") & ~one & (post["high"].astype(float) - post["low"].astype(float) > 0.5)
    out = (
        post.assign(one=one, wide=wide)
        .groupby(["label", "kind"], sort=True)
        .agg(n_messages=("item", "size"), single_vote=("one", "sum"), wide_interval=("wide", "sum"))
        .reset_index()
    )
    out["single_vote_share"] = out["single_vote"] / out["n_messages"]
    out["wide_interval_share"] = out["wide_interval"] / out["n_messages"]
    return out[columns]


def _toxicity(t: adapter.Tables) -> pd.DataFrame:
    scores = t.scores[t.scores["head"] == "toxicity"].set_index("item")["score"]
    human = adapter.label_rows(t, "toxicity")
    human = human[human["count"] >= 2].set_index("item")
    both = human.join(scores.rename("score"), how="inner")
    model_only = both[(both["score"] >= 0.5) & (both["value"] <= 0.25)]
    human_only = both[(both["value"] >= 0.75) & (both["score"] < 0.1)]
    return pd.concat(
        [
            _rows(
                t.index.to_numpy(),
                kind,
                "medium",
                [
                    f"Detoxify toxicity {score:.2f}; human toxicity {v:.2f} ({n} votes)"
                    for score, v, n in zip(t["score"], t["value"], t["count"])
                ],
                "toxicity",
            )
            for kind, t in (("toxic_by_model_not_humans", model_only), ("toxic_by_humans_not_model", human_only))
        ],
        ignore_index=True,
    )


def _language(table: pd.DataFrame) -> pd.DataFrame:
    m = table[table["mismatch"]]
    return _rows(
        m["item"].to_numpy(),
        "language_mismatch",
        "medium",
        [f"declared {d}, detected {t} ({c:.2f})" for d, t, c in zip(m["declared"], m["detected"], m["confidence"])],
    )


def _annotations(annotations: Annotations, export_rankings: pd.DataFrame, summary: dict | None) -> list[pd.DataFrame]:
    from .consensus import group_diagnostics
    from .per_annotator import summarize

    if summary is None:
        summary = summarize(annotations, export_rankings=export_rankings, n_resamples=200)
    parts = []
    rankings = annotations.rankings
    if len(rankings):
        per = group_diagnostics(rankings)
        cyclic, tied = per[per["condorcet_cycle"]], per[~per["condorcet_cycle"] & per["tie_break_sensitive"]]
        parts.append(
            _rows(
                cyclic["group"].to_numpy(),
                "cyclic_ranking",
                "medium",
                "the raw rankings of its replies have a majority cycle",
            )
        )
        parts.append(
            _rows(
                tied["group"].to_numpy(),
                "tie_broken_ranking",
                "low",
                "the consensus of its replies depends on the tie-break",
            )
        )
    suspects = pd.DataFrame(summary["suspects"])  # a DataFrame, or its records from metrics.json
    if len(suspects):
        rule = suspects.groupby("annotator")["rule"].agg(lambda r: ", ".join(sorted(set(r))))
        votes = annotations.votes
        voted = votes[votes["annotator"].isin(rule.index)].drop_duplicates(["item", "annotator"])
        ranked = rankings[rankings["annotator"].isin(rule.index)].drop_duplicates(["group", "annotator"])
        evidence = {a: f"{a} ({r}) annotated it" for a, r in rule.items()}  # one text per suspect
        for ids, who in ((voted["item"], voted["annotator"]), (ranked["group"], ranked["annotator"])):
            parts.append(_rows(ids.to_numpy(), "suspect_annotator", "medium", who.map(evidence).to_numpy()))
    return parts


def flag_files(table: pd.DataFrame) -> dict[str, bytes]:
    """The curation table as ``flags.parquet`` and ``flags.csv`` (bytes, by file name)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table.astype({"severity": str}), preserve_index=False)
    parquet, csv = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(arrow, parquet)
    pcsv.write_csv(arrow, csv, pcsv.WriteOptions(quoting_style="needed"))  # C++: 5-10x faster than pandas
    return {"flags.parquet": parquet.getvalue().to_pybytes(), "flags.csv": csv.getvalue().to_pybytes()}


def write_part(table: pd.DataFrame, folder: str | Path, number: int) -> Path:
    """Partition ``number``'s curation table as a part of the ``flags.parquet`` dataset folder
    ``folder`` (every column a string, so that the parts share one schema whatever their rows),
    ``part-NNNNN.parquet``: read in sorted order, the parts come in partition order on every run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in FLAG_COLUMNS])
    path = Path(folder) / f"part-{number:05d}.parquet"
    pq.write_table(
        pa.Table.from_pandas(table[FLAG_COLUMNS].astype({"severity": str}), schema, preserve_index=False), path
    )
    return path


def csv_from_parts(folder: str | Path, path: str | Path) -> None:
    """``flags.csv`` from the parts of a ``flags.parquet`` folder (:func:`write_part`), one part in
    memory at a time."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    parts = sorted(Path(folder).glob("*.parquet"))
    schema = pq.read_schema(parts[0])
    with pcsv.CSVWriter(path, schema, write_options=pcsv.WriteOptions(quoting_style="needed")) as out:
        for part in parts:
            out.write_table(pq.read_table(part, schema=schema))


def flagged_messages(folder: str | Path) -> int:
    """The distinct message ids of the parts of a ``flags.parquet`` folder (:func:`write_part`),
    reading only that column: a duplicate message set aside in one partition carries the id of a
    message another partition loaded, so the parts' own counts do not add up."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = Path(folder).glob("*.parquet")
    ids = [pq.read_table(part, columns=["message_id"])["message_id"].unique() for part in parts]
    return len(pa.chunked_array(ids, pa.string()).unique())
