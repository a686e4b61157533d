"""The report's sections: one :class:`Section` entry each, read by the report, the engines and the template.

A section is a name and titles, a partial over one partition (:mod:`oasst_quality.partials`) and
how two partials merge, a finalize step that shapes the merged statistics into the section's
metrics (and figures), and its prose (:mod:`oasst_quality.report.prose`). The HTML of a section
is ``templates/sections/<name>.html.j2``. Adding a section is one entry in :data:`SECTIONS`, its
template and its prose.

Sections without a partial are finalized after the second pass (:func:`oasst_quality.partials.second_pass`),
from its result under their name (None if it has none) and the :class:`Context`: the curation
table and the noise study.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import adapter, partials, published, skew
from .. import toxicity as tx
from ..flags import flagged_messages, sort_flags, write_part
from ..references import PAIRWISE_AGREEMENT
from ..summaries import flags_summary, flags_summary_from_counts
from . import plots, prose

if TYPE_CHECKING:
    from ..dataset import Dataset


@dataclass
class Context:
    """What finalize steps share: the run's settings, the global fits, and where figures and full
    tables go."""

    source: str | list[str] | None
    n_resamples: int
    seed: int
    figures: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: the label models of the whole dataset (:func:`oasst_quality.published.label_fits`), or why not
    fits: published.LabelFits | partials.Failed | None = None
    #: a :class:`~oasst_quality.reward.NoiseStudyResult` to show, if one was run
    noise_study: Any = None
    #: a :class:`~oasst_quality.verdicts.pairs.PairVerdicts` to show, if the pairs were judged
    pairs: Any = None
    #: the folder where the partitions wrote the curation table in parts, if they did
    flags_dir: str | None = None
    #: the number of partitions (a part of the curation table written here takes the next number)
    n_parts: int = 1


@dataclass(frozen=True)
class Section:
    """One section of the report.

    ``partial(dataset, tables)`` reduces one partition (None: the section is finalized after the
    second pass, from that pass's result under the section's name); ``merge`` adds two partials;
    ``finalize(stats, context)`` gives the section's metrics, or None to leave the section out;
    ``sentences`` and ``findings`` write its prose from the metrics.
    """

    name: str
    title: str
    nav: str
    finalize: Callable[[Any, Context], dict | None]
    partial: Callable[[Dataset, adapter.Tables], Any] | None = None
    merge: Callable[[Any, Any], Any] = partials.add
    sentences: Callable[[dict], list[str]] | None = None
    findings: Callable[[dict], list[dict]] | None = None
    #: merged and finalized where the partials are (one worker of a cluster): statistics too big for
    #: the client to hold (per-message rows) stay off it; the finalize step's figures and its
    #: ``context.tables`` entries travel back with the metrics (:func:`finalize_apart`)
    apart: bool = False
    #: finalized on the client beside the other sections (:meth:`oasst_quality.engine.Engine.aside`), from
    #: a pass of its own: a long finalization that only its metrics leave (no figures, no tables)
    aside: bool = False


def shown(source: str | list[str] | None) -> str | None:
    """The input as a shared report should show it: as given when relative, else its file name
    (an absolute path tells readers about the machine, not the data); several inputs joined."""
    if isinstance(source, list):
        return ", ".join(map(shown, source))
    return source if source is None or not Path(source).is_absolute() else Path(source).name


# --------------------------------------------------------------------------- finalize steps


def _structure(stats: dict, ctx: Context) -> dict:
    summary = {"source": shown(ctx.source)} | partials.structure_from_partial(stats)
    stats = summary["forest"]
    figures = ctx.figures
    figures["depth"] = plots.bars(stats["depth_counts"], "Messages by depth (0 = root)", "depth")
    figures["branching"] = plots.bars(
        stats["branching_counts"], "Replies per message that has replies", "replies", "messages"
    )
    figures["languages"] = plots.bars(stats["by_lang"], "Messages by declared language (top 20)", "language")
    return summary


def _agreement(stats: dict, ctx: Context) -> dict:
    table = published.agreement_from_patterns(stats, n_resamples=ctx.n_resamples, seed=ctx.seed)
    flags = table[table["computable"]].copy()
    if len(flags):
        ctx.figures["agreement"] = plots.intervals(
            flags.sort_values("alpha"),
            "label",
            "alpha",
            "alpha_low",
            "alpha_high",
            "Krippendorff's alpha per flag (95% bootstrap interval)",
            "alpha (nominal)",
            extra="gwet_ac1",
        )
    cols = published.FLAG_AGREEMENT_COLUMNS
    counts = ("n_pairable_messages", "n_votes", "n_inconsistent")
    why = "alpha_no_interval"  # only on a flag whose alpha has no interval
    return {
        "flags": {
            r["label"]: {c: int(r[c]) if c in counts else r[c] for c in cols}
            | ({why: r[why]} if isinstance(r.get(why), str) else {})
            for _, r in flags.iterrows()
        },
        "not_computable": {r["label"]: r["reason"] for _, r in table[~table["computable"]].iterrows()},
        "n_resamples": ctx.n_resamples,
    }


def _aggregation(patterns: dict, ctx: Context) -> dict:
    fits = ctx.fits
    labels = published.summary_from_patterns(patterns, priors=fits.priors)
    out: dict[str, Any] = {
        "labels": {r["label"]: {k: r[k] for k in labels.columns if k != "label"} for _, r in labels.iterrows()},
        "default_zero": {},
    }
    zeros = fits.zero_bias[0]
    if len(zeros):
        ctx.figures["zero_bias"] = plots.zero_bias(zeros)
        out["default_zero"] = {
            r["label"]: {k: r[k] for k in zeros.columns if k != "label"} for _, r in zeros.iterrows()
        }
    return out


def _consensus(stats: dict, ctx: Context) -> dict:
    return stats | {
        "group_sizes": dict(sorted(stats["group_sizes"].items())),
        "per_ranker_data": False,
        "reference_bands": list(PAIRWISE_AGREEMENT),
    }


def _skew(t: dict, ctx: Context) -> dict:
    out = skew.summary_from_tallies(t, n_resamples=ctx.n_resamples, seed=ctx.seed)
    conc = out["contributors"]
    if conc.get("n_contributors"):
        lor = conc.pop("lorenz")  # drawn, not listed
        ctx.figures["lorenz"] = plots.lorenz(lor["x"], lor["y"], conc["gini"]["estimate"])
    deciles = out["quality_by_contributor_decile"]
    if deciles is not None and len(deciles):
        ctx.figures["quality_by_decile"] = plots.group_means(
            deciles, "contributor_decile", "Quality by contributor decile (1 = most prolific; 95% CI)"
        )
    if len(out["quality_by_language"]) > 1:
        ctx.figures["quality_by_lang"] = plots.group_means(
            out["quality_by_language"], "lang", "Quality by language (95% CI)"
        )
    return out


def _toxicity(tables: tuple | None, ctx: Context) -> dict:
    """The toxicity section from the merged (scores, human) tables; its ``disagreements`` get their
    texts after the second pass (from :func:`toxicity_gaps`, left in ``ctx.tables``)."""
    if tables is None:
        return {
            "available": False,
            "note": "The export carries no Detoxify scores: `oasst-quality toxicity --rescore` scores its texts with a "
            "local Detoxify checkpoint (the toxicity extra), offline.",
        }
    scores, human = tables
    ctx.tables["toxicity_gaps"] = partials.guarded(lambda: toxicity_gaps(tables))
    table = tx.agreement_from_tables(scores, human, n_resamples=ctx.n_resamples, seed=ctx.seed)
    cal = tx.calibration_from_tables(scores, human)
    ctx.figures["calibration"] = plots.calibration(cal)
    return {
        "available": True,
        "source": "export",
        "agreement": table,
        "calibration": cal,
        "disagreements": [],  # with their texts after the second pass
    }


def toxicity_gaps(tables: tuple | None) -> pd.DataFrame | None:
    """The toxicity section's largest model-human gaps (their texts come from a pass of their own over
    the partitions, :func:`oasst_quality.partials.texts`, then :func:`with_texts`)."""
    return None if tables is None else tx.largest_gaps(*tables, k=8).reset_index(names="message_id")


def with_texts(worst: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    """The gaps of :func:`toxicity_gaps` with each message's language and first 300 characters."""
    worst = worst.merge(texts.drop_duplicates("message_id"), on="message_id", how="left")
    worst["text"] = worst["text"].fillna("").str.slice(0, 300)
    return worst[["message_id", "lang", "score", "human", "direction", "text"]]


def _annotators(stats: partials.Gathered | None, ctx: Context) -> dict | None:
    if stats is None:
        return None
    from ..per_annotator import summarize

    annotations, export_rankings = stats.take()  # the in-memory order, whatever the partitions
    return summarize(annotations, export_rankings=export_rankings, n_resamples=ctx.n_resamples, seed=ctx.seed)


def _pairs(stats: None, ctx: Context) -> dict | None:
    """Suspect preference pairs (finalized before the flags, which take its suspect_preference rows)."""
    if ctx.pairs is None:
        return None
    from ..verdicts.pairs import report_section

    out = report_section(ctx.pairs, seed=ctx.seed)
    ctx.tables["pair_flags"] = out.pop("flags")
    return out


def _flags(stats: dict, ctx: Context) -> dict:
    """The curation table (written beside the report) in counts, with the first examples of each kind."""
    extra = ctx.tables.pop("pair_flags", None)
    if "table" in stats:
        table = pd.concat([*stats["table"], *([extra] if extra is not None and len(extra) else [])], ignore_index=True)
        table = sort_flags(table)
        ctx.tables["flags"] = table
        summary = flags_summary(table)
    else:  # written in parts by the partitions (the Dask engine): only their counts come back
        counts = stats["counts"]
        if extra is not None and len(extra):  # the preference pairs' rows: one more part, after the partitions'
            write_part(sort_flags(extra), ctx.flags_dir, ctx.n_parts)
            counts = partials.add(counts, extra.groupby(["kind", "severity"], observed=True).size())
        summary = flags_summary_from_counts(counts, flagged_messages(ctx.flags_dir))
    shown_rows = sort_flags(pd.concat(stats["examples"], ignore_index=True))
    examples = {
        kind: g.head(5)[["message_id", "severity", "label", "evidence", "text"]]
        for kind, g in shown_rows.groupby("kind", sort=False, observed=True)
    }
    return summary | {
        "examples": examples,
        "files": ["flags.parquet", "flags.csv"],
    }


def _noise_study(stats: None, ctx: Context) -> dict | None:
    study = ctx.noise_study
    if study is None:
        return None
    png = io.BytesIO()
    study.plot(png)
    ctx.figures["noise"] = plots.png_uri(png.getvalue())
    return study.to_dict()


# --------------------------------------------------------------------------- the registry

SECTIONS: tuple[Section, ...] = (
    Section(
        "structure",
        "Structure",
        "Structure",
        _structure,
        partials.structure_partial,
        sentences=prose.structure_sentences,
        findings=prose.structure_findings,
    ),
    Section(
        "agreement",
        "Agreement",
        "Agreement",
        _agreement,
        partials.agreement_partial,
        sentences=prose.agreement_sentences,
        findings=prose.agreement_findings,
    ),
    Section(
        "aggregation",
        "Aggregation and the default-to-zero bias",
        "Aggregation",
        _aggregation,
        partials.aggregation_partial,
        sentences=prose.aggregation_sentences,
        findings=prose.aggregation_findings,
    ),
    Section(
        "consensus",
        "Consensus rankings",
        "Consensus",
        _consensus,
        partials.consensus_partial,
        sentences=prose.consensus_sentences,
    ),
    Section(
        "skew",
        "Language and contributor skew",
        "Language and contributors",
        _skew,
        partials.skew_partial,
        sentences=prose.skew_sentences,
        findings=prose.skew_findings,
    ),
    Section(
        "toxicity",
        "Toxicity: Detoxify against the human labels",
        "Toxicity",
        _toxicity,
        partials.toxicity_partial,
        merge=partials.toxicity_merge,
        apart=True,
        sentences=prose.toxicity_sentences,
        findings=prose.toxicity_findings,
    ),
    Section(
        "pairs",
        "Preference pairs: which are wrong",
        "Preference pairs",
        _pairs,
        sentences=prose.pairs_sentences,
        findings=prose.pairs_findings,
    ),
    Section(
        "flags",
        "Messages to look at: the curation table",
        "Flags",
        _flags,
        findings=prose.flags_findings,
    ),
    Section(
        "annotators",
        "Per-annotator votes and rankings",
        "Annotators",
        _annotators,
        partials.annotators_partial,
        merge=partials.annotators_merge,
        sentences=prose.annotators_sentences,
        findings=prose.annotators_findings,
        aside=True,
    ),
    Section(
        "noise_study",
        "Reward model under label noise",
        "Noise study",
        _noise_study,
        sentences=prose.noise_study_sentences,
        findings=prose.noise_study_findings,
    ),
)

BY_NAME: dict[str, Section] = {s.name: s for s in SECTIONS}


def first_pass(ds: Dataset, t: adapter.Tables) -> dict:
    """One partition's statistics for every section with a partial, but those finalized apart or
    aside (:func:`section_partial` computes those, one section at a time)."""
    return {
        s.name: partials.guarded(lambda s=s: s.partial(ds, t))
        for s in SECTIONS
        if s.partial is not None and not (s.apart or s.aside)
    }


def section_partial(ds: Dataset, t: adapter.Tables, name: str) -> Any:
    """One partition's statistics for the section ``name`` (one finalized :attr:`Section.apart` or
    :attr:`Section.aside`)."""
    return partials.guarded(lambda: BY_NAME[name].partial(ds, t))


def section_merge(name: str, a: Any, b: Any) -> Any:
    """Two partitions' :func:`section_partial` results merged; a failure stays."""
    return merge({name: a}, {name: b})[name]


def finalize_apart(name: str, source, n_resamples: int, seed: int, stats: Any) -> tuple[dict | None, dict, dict]:
    """The section ``name``'s metrics, figures and full tables, finalized where its merged
    statistics are (a worker): what the client receives instead of them."""
    ctx = Context(source, n_resamples, seed)
    out = finalize(BY_NAME[name], stats, ctx)
    return out, ctx.figures, ctx.tables


def merge(a: dict, b: dict) -> dict:
    """Two partitions' :func:`first_pass` results merged section by section; a failure stays."""
    out = {}
    for name, x in a.items():
        y = b[name]
        failed = x if isinstance(x, partials.Failed) else y if isinstance(y, partials.Failed) else None
        out[name] = failed or BY_NAME[name].merge(x, y)
    return out


def finalize(section: Section, stats: Any, ctx: Context) -> dict | None:
    """A section's metrics from its merged statistics, or why it could not be computed (None: left out)."""
    out = stats if isinstance(stats, partials.Failed) else partials.guarded(lambda: section.finalize(stats, ctx))
    if isinstance(out, partials.Failed):
        return {"computable": False, "reason": out.reason} | ({"error": out.error} if out.error else {})
    return out


def summaries(m: dict) -> dict[str, list[str]]:
    """Two or three plain sentences per section, written from the numbers."""
    out = {}
    for s in SECTIONS:
        if s.sentences is not None and _computed(m, s.name):
            sentences = partials.guarded(lambda s=s: s.sentences(m))
            if isinstance(sentences, partials.Failed):  # the numbers stand; only their sentences are missing
                sentences = [f"The sentences for this section could not be written: {sentences.reason}."]
            if sentences:
                out[s.name] = sentences
    return out


def findings(m: dict, *, limit: int = 10) -> list[dict]:
    """The most important findings, most severe first: one sentence each, with its number, interval
    and n, and the section that holds the evidence. Built from the metrics alone."""
    out = []
    for s in SECTIONS:
        if s.findings is not None and _computed(m, s.name):
            found = partials.guarded(lambda s=s: s.findings(m))
            if isinstance(found, partials.Failed):  # said, not dropped: the section's numbers still stand
                why = f"The findings of this section could not be written: {found.reason}."
                found = [prose.finding("info", s.name, why)]
            out += found
    out.sort(key=lambda f: prose.SEVERITY_RANK[f["severity"]])
    return out[:limit]


def _computed(m: dict, name: str) -> bool:
    return name in m and m[name].get("computable", True) is not False
