"""One HTML report (plots embedded, no scripts) and one metrics.json for a whole dataset.

:func:`build` computes every section through the public API into one metrics dictionary; the
HTML is rendered from that dictionary alone (so every number on the page is in metrics.json) by a
Jinja2 template with autoescaping, so text from the dataset shows as text and runs nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from tqdm.auto import tqdm

from .. import __version__, adapter, partials, published, skew
from .. import toxicity as tx
from .._util import check_output_folder, jsonable, replace_into
from ..errors import FormatError
from ..flags import sort_flags
from ..references import PAIRWISE_AGREEMENT
from . import plots

SCHEMA_VERSION = 1


def _shown(source: str | list[str] | None) -> str | None:
    """The input as a shared report should show it: as given when relative, else its file name
    (an absolute path tells readers about the machine, not the data); several inputs joined."""
    if isinstance(source, list):
        return ", ".join(map(_shown, source))
    return source if source is None or not Path(source).is_absolute() else Path(source).name


def _structure(stats: dict, source: str | None, figures: dict) -> dict:
    summary = {"source": _shown(source)} | partials.structure_from_partial(stats)
    stats = summary["forest"]
    figures["depth"] = plots.bars(stats["depth_counts"], "Messages by depth (0 = root)", "depth")
    figures["branching"] = plots.bars(
        stats["branching_counts"], "Replies per message that has replies", "replies", "messages"
    )
    figures["languages"] = plots.bars(stats["by_lang"], "Messages by declared language (top 20)", "language")
    return summary


def _agreement(stats: dict, figures: dict, n_resamples: int, seed: int) -> dict:
    table = published.agreement_from_patterns(stats, n_resamples=n_resamples, seed=seed)
    flags = table[table["computable"]].copy()
    if len(flags):
        figures["agreement"] = plots.intervals(
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
    return {
        "flags": {r["label"]: {c: int(r[c]) if c in counts else r[c] for c in cols} for _, r in flags.iterrows()},
        "not_computable": {r["label"]: r["reason"] for _, r in table[~table["computable"]].iterrows()},
        "n_resamples": n_resamples,
    }


def _aggregation(patterns: dict, fits: published.LabelFits, figures: dict) -> dict:
    labels = published.summary_from_patterns(patterns, priors=fits.priors)
    out: dict[str, Any] = {
        "labels": {r["label"]: {k: r[k] for k in labels.columns if k != "label"} for _, r in labels.iterrows()},
        "default_zero": {},
    }
    zeros = fits.zero_bias[0]
    if len(zeros):
        figures["zero_bias"] = plots.zero_bias(zeros)
        out["default_zero"] = {
            r["label"]: {k: r[k] for k in zeros.columns if k != "label"} for _, r in zeros.iterrows()
        }
    return out


def _consensus(stats: dict) -> dict:
    return stats | {
        "group_sizes": dict(sorted(stats["group_sizes"].items())),
        "per_ranker_data": False,
        "reference_bands": list(PAIRWISE_AGREEMENT),
    }


def _skew(t: dict, figures: dict, n_resamples: int, seed: int) -> dict:
    out = skew.summary_from_tallies(t, n_resamples=n_resamples, seed=seed)
    conc = out["contributors"]
    if conc.get("n_contributors"):
        lor = conc.pop("lorenz")  # drawn, not listed
        figures["lorenz"] = plots.lorenz(lor["x"], lor["y"], conc["gini"]["estimate"])
    deciles = out["quality_by_contributor_decile"]
    if deciles is not None and len(deciles):
        figures["quality_by_decile"] = plots.group_means(
            deciles, "contributor_decile", "Quality by contributor decile (1 = most prolific; 95% CI)"
        )
    if len(out["quality_by_language"]) > 1:
        figures["quality_by_lang"] = plots.group_means(
            out["quality_by_language"], "lang", "Quality by language (95% CI)"
        )
    return out


def _toxicity(tables: tuple | None, figures: dict, n_resamples: int, seed: int) -> dict:
    """The toxicity section from the merged (scores, human) tables; its ``disagreements`` get their
    texts after the second pass."""
    if tables is None:
        return {"available": False, "note": "the export carries no Detoxify scores; run score_texts for a model"}
    scores, human = tables
    table = tx.agreement_from_tables(scores, human, n_resamples=n_resamples, seed=seed)
    cal = tx.calibration_from_tables(scores, human)
    figures["calibration"] = plots.calibration(cal)
    return {
        "available": True,
        "source": "export",
        "agreement": table,
        "calibration": cal,
        "disagreements": [],  # with their texts after the second pass
    }


def _gaps(tables: tuple | None) -> pd.DataFrame | None:
    """The toxicity section's largest model-human gaps (their texts come with the second pass)."""
    return None if tables is None else tx.largest_gaps(*tables, k=8).reset_index(names="message_id")


def _with_texts(worst: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    worst = worst.merge(texts.drop_duplicates("message_id"), on="message_id", how="left")
    worst["text"] = worst["text"].fillna("").str.slice(0, 300)
    return worst[["message_id", "lang", "score", "human", "direction", "text"]]


def _sentences(m: dict) -> dict[str, list[str]]:
    """Two or three plain sentences per section, written from the numbers."""
    s: dict[str, list[str]] = {}
    writers = {
        "structure": _structure_sentences,
        "agreement": _agreement_sentences,
        "aggregation": _aggregation_sentences,
        "consensus": _consensus_sentences,
        "skew": _skew_sentences,
        "noise_study": _noise_sentences,
        "annotators": _annotator_sentences,
        "toxicity": _toxicity_sentences,
    }
    for name, write in writers.items():
        if name in m and m[name].get("computable", True) is not False:
            write(m, s)
    return s


def _annotator_sentences(m: dict, s: dict) -> None:
    a = m["annotators"]
    n = a["summary"]
    out = [
        f"Per-annotator data: {n['n_votes']:,} votes on {len(n['labels'])} labels and {n['n_rankings']:,} rankings "
        f"of {n['n_ranked_groups']:,} reply sets by {n['n_annotators']:,} annotators"
        + (f"; {n['n_rejected']:,} rows set aside." if n["n_rejected"] else ".")
    ]
    suspects = a["suspects"]
    if suspects:
        names = sorted({r["annotator"] for r in suspects})
        out.append(
            f"{len(names)} annotator(s) look like noise ({', '.join(names[:8])}): see the table for the evidence."
        )
    vs = a.get("rankings", {}).get("vs_export")
    if vs and vs["share_identical"] is not None:
        out.append(
            f"Ranked pairs on the raw rankings gives the export's order in {vs['share_identical']:.0%} of "
            f"{vs['n_groups']:,} reply sets (mean Kendall tau {vs['mean_tau']:.2f})."
        )
    s["annotators"] = out


def _consensus_sentences(m: dict, s: dict) -> None:
    c = m["consensus"]
    s["consensus"] = [
        f"{c['n_ranked_groups']:,} reply sets were ranked, giving {c['n_preference_pairs']:,} (chosen, rejected) "
        "pairs for a reward model.",
        "The public file holds only the merged ranking of each set, so cycle rates, ties and each ranker's "
        "agreement with the consensus need per-ranker data (`oasst-quality consensus rankings.csv`).",
    ]


def _noise_sentences(m: dict, s: dict) -> None:
    n = m["noise_study"]
    low, high = n["clean_interval"]
    how = "a head on the frozen encoder" if n["mode"] == "frozen" else "the fine-tuned encoder"
    s["noise_study"] = [
        f"Trained on {n['n_train']:,} pairs ({how}) and tested on {n['n_test']:,} clean pairs from other trees, the "
        f"reward model reaches {n['fitted_clean_accuracy']:.3f} (fitted, no noise; clean runs "
        f"{low:.3f}-{high:.3f}, {n['confidence']:.0%} interval over test trees); each {n['noise']} flip rate p "
        "shrinks the margin over chance by the factor 1 - 2p.",
    ]
    if n["warning"]:
        s["noise_study"].append(f"Warning: {n['warning']}.")


def _structure_sentences(m: dict, s: dict) -> None:
    f = m["structure"]["forest"]
    probs = m["structure"]["problems"]
    s["structure"] = [
        f"{f['n_messages']:,} messages in {f['n_trees']:,} trees, {f['n_threads']:,} root-to-leaf threads; "
        f"{f['n_ranked_sibling_groups']:,} reply sets carry rankings.",
        (
            "Structural problems: "
            + ", ".join(f"{v} {k.replace('_', ' ')}{'s' if v != 1 else ''}" for k, v in probs.items())
            + "; none of them stops loading, "
            "but orphans and rank gaps usually mean the export was filtered (a language subset, deleted messages)."
        )
        if probs
        else "No structural problems were found.",
    ]


def _agreement_sentences(m: dict, s: dict) -> None:
    flags = m["agreement"]["flags"]
    if not flags:
        return
    alphas = [v["alpha"] for v in flags.values() if v["alpha"] is not None]
    raw = [v["percent_agreement"] for v in flags.values()]
    if alphas:
        s["agreement"] = [
            f"Raw agreement on the flags ranges from {min(raw):.0%} to {max(raw):.0%}, but Krippendorff's alpha only "
            f"from {_r2(min(alphas))} to {_r2(max(alphas))}: the flags are rare, so two labellers agree by chance "
            "almost always "
            "(Gwet's AC1, which discounts chance differently, stays high).",
            "Wide intervals mark flags with only a handful of 'yes' votes: their agreement is barely measured.",
            _not_computable_sentence(m["agreement"]["not_computable"]),
        ]


def _aggregation_sentences(m: dict, s: dict) -> None:
    lab = m["aggregation"]["labels"]
    if lab.get("quality"):
        q = lab["quality"]
        s["aggregation"] = [
            f"{q['single_vote_share']:.1%} of quality scores rest on a single vote; their 95% intervals are "
            f"{(q['mean_interval_width_single_vote'] or 0):.2f} wide on average against {q['mean_interval_width']:.2f}"
            " overall, and the posterior pulls them toward the label's typical value.",
        ]
    zeros = m["aggregation"]["default_zero"]
    if zeros:
        high = {k: v for k, v in zeros.items() if v["p_value"] < 0.01}
        s.setdefault("aggregation", []).append(
            (
                "The test for stored default zeros is significant for "
                + ", ".join(
                    f"{k} (all-zero messages {v['all_zero_share']:.1%} against "
                    f"{v['all_zero_expected_without_default']:.1%} without defaults)"
                    for k, v in high.items()
                )
                + ". The fitted default rate (the table's upper bound) trades off against the model's spread and "
                "counts genuine 'none' answers too: read the excess of all-zero messages, not the rate, as the size "
                "of the problem."
            )
            if high
            else "No label shows more all-zero messages than a model without default zeros predicts."
        )


def _skew_sentences(m: dict, s: dict) -> None:
    lang = m["skew"]["language"]
    conc = m["skew"]["contributors"]
    plural = "s" if lang["n_languages"] != 1 else ""
    eff = lang["effective_languages"]["estimate"]
    sk = [
        f"{lang['n_languages']} language{plural}, effectively {eff:.1f} "
        f"(95% CI {lang['effective_languages']['low']:.1f}-{lang['effective_languages']['high']:.1f}); the top "
        f"language holds {lang['top_language_share']:.0%} of the messages."
    ]
    if conc.get("n_contributors"):
        w = m["skew"]["without_top_1pct"]
        sk.append(
            f"{conc['n_contributors']:,} contributors; Gini {conc['gini']['estimate']:.2f} "
            f"({conc['gini']['low']:.2f}-{conc['gini']['high']:.2f}); the top 1% wrote "
            f"{conc['top_1pct_share']:.0%} of the messages. Leaving them out moves mean quality from "
            f"{w['mean_all']:.3f} to {w['mean_without_top']:.3f}."
        )
    s["skew"] = sk


def _toxicity_sentences(m: dict, s: dict) -> None:
    if not m["toxicity"].get("available"):
        return
    rows = pd.DataFrame(m["toxicity"]["agreement"])
    main = rows[(rows["head"] == "toxicity") & (rows["label"] == "toxicity")] if len(rows) else rows
    if len(main):
        r = main.iloc[0]
        s["toxicity"] = [
            f"Detoxify's toxicity score (from the export) follows the human toxicity label only weakly in rank: "
            f"Spearman {r['spearman']:.2f} ({r['spearman_low']:.2f}-{r['spearman_high']:.2f}), but it "
            f"separates the {r['n_positive']} messages humans call toxic with ROC-AUC {r['auc']:.2f} "
            f"({r['auc_low']:.2f}-{r['auc_high']:.2f}).",
            "Most scores sit near zero, so the model says little about mildly toxic text; the table of "
            "disagreements shows where reading the messages is worth it.",
        ]


def _not_computable_sentence(reasons: dict[str, str]) -> str:
    likert = [k for k, v in reasons.items() if "not published" in v]
    other = [k for k in reasons if k not in likert]
    out = (
        (
            f"{len(likert)} Likert labels ({', '.join(likert)}) cannot be assessed from this file: it publishes only "
            "each message's mean and count, which do not determine the votes."
        )
        if likert
        else ""
    )
    if other:
        out += f" Too few votes to assess: {', '.join(other)}."
    return out.strip()


SECTIONS = ("structure", "agreement", "aggregation", "consensus", "skew", "toxicity")


def _flags(stats: dict, tables: dict) -> dict:
    """The curation table (written beside the report) in counts, with the first examples of each kind."""
    table = sort_flags(pd.concat(stats["table"], ignore_index=True))
    tables["flags"] = table
    shown = sort_flags(pd.concat(stats["examples"], ignore_index=True))
    examples = {
        kind: g.head(5)[["message_id", "severity", "label", "evidence", "text"]]
        for kind, g in shown.groupby("kind", sort=False, observed=True)
    }
    counts = table.groupby(["kind", "severity"], observed=True).size().reset_index(name="n")
    return {
        "n_flags": len(table),
        "n_messages": int(table["message_id"].nunique()),
        "by_kind": counts,
        "examples": examples,
        "files": ["flags.parquet", "flags.csv"],
    }


def _annotators(ds, n_resamples: int, seed: int) -> dict:
    from ..per_annotator import summarize

    return summarize(ds.annotations, export_rankings=adapter.rankings(ds), n_resamples=n_resamples, seed=seed)


def _noise(study, figures: dict) -> dict:
    png = io.BytesIO()
    study.plot(png)
    figures["noise"] = plots.png_uri(png.getvalue())
    return study.to_dict()


class _InMemory:
    """A loaded Dataset as the one partition of :func:`compute`."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self.source = dataset.source
        self.annotations = dataset.annotations

    def map_reduce(self, fn: Callable, *args) -> Any:
        return fn(self.dataset, *args)

    def submit(self, fn: Callable, *args) -> Any:
        return _Later(lambda: fn(self.dataset, *args))


class _Later:
    def __init__(self, run: Callable[[], Any]) -> None:
        self.result = run


def compute(
    dataset,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    quiet: bool = False,
    noise_study=None,
    tables: dict | None = None,
) -> tuple[dict, dict]:
    """All metrics (a JSON-ready dict) and the figures (name -> PNG data URI).

    ``dataset``: a :class:`~oasst_quality.dataset.Dataset`, or partitions of one on a Dask
    cluster (:func:`oasst_quality.scale.partition`): the same partial statistics, merged
    (:mod:`oasst_quality.partials`), give the same numbers.
    ``noise_study``: a :class:`~oasst_quality.reward.NoiseStudyResult` to add as a section.
    ``tables``: a dict that receives the full tables behind the page (``"flags"``: the curation table).
    """
    data = dataset if hasattr(dataset, "map_reduce") else _InMemory(dataset)
    figures: dict[str, str] = {}
    tables = {} if tables is None else tables
    progress = tqdm(total=len(partials.FIRST_PASS) + 3, desc="report", disable=quiet, unit="step")
    stats = data.map_reduce(partials.first_pass)
    progress.update()
    patterns = stats["aggregation"]
    fits = (
        partials.guarded(lambda: published.label_fits(patterns))
        if not isinstance(patterns, partials.Failed)
        else patterns
    )
    if isinstance(fits, partials.Failed):
        stats["aggregation"] = fits
    read = stats["structure"]
    if not isinstance(read, partials.Failed) and read["records_read"] and not read["records_loaded"]:
        where = ", ".join(data.source) if isinstance(data.source, list) else data.source
        raise FormatError("no record could be read (run `oasst-quality validate` on it to see why)", path=where)
    finalize: dict[str, Callable[[Any], Any]] = {
        "structure": lambda st: _structure(st, data.source, figures),
        "agreement": lambda st: _agreement(st, figures, n_resamples, seed),
        "aggregation": lambda st: _aggregation(st, fits, figures),
        "consensus": _consensus,
        "skew": lambda st: _skew(st, figures, n_resamples, seed),
        "toxicity": lambda st: _toxicity(st, figures, n_resamples, seed),
    }
    metrics: dict[str, Any] = {
        "meta": {
            "schema_version": SCHEMA_VERSION,
            "oasst_quality": __version__,
            "n_resamples": n_resamples,
            "seed": seed,
            "source": _shown(data.source),
        }
    }
    annotators = None
    if data.annotations is not None:  # before the flags, which list the suspects' messages
        annotators = _section(None, lambda _: _annotators(data.dataset, n_resamples, seed))
    usable = annotators if annotators and annotators.get("computable", True) is not False else None
    if not isinstance(stats["toxicity"], partials.Failed):  # merged once, read by the section and the gaps
        parts = stats["toxicity"]
        stats["toxicity"] = partials.guarded(lambda: partials.toxicity_tables(parts) if parts else None)
    merged = None if isinstance(stats["toxicity"], partials.Failed) else stats["toxicity"]
    gaps = partials.guarded(lambda: _gaps(merged))
    text_ids = gaps["message_id"].tolist() if isinstance(gaps, pd.DataFrame) else []
    # the second pass runs on the workers while the client finalizes the first
    pending = data.submit(partials.second_pass, None if isinstance(fits, partials.Failed) else fits, text_ids, usable)
    for name, step in finalize.items():
        metrics[name] = _section(stats[name], step)
        progress.update()
    if annotators is not None:
        metrics["annotators"] = annotators
    second = pending.result()
    progress.update()
    tox = metrics["toxicity"]
    if tox.get("available") and isinstance(gaps, pd.DataFrame):
        tox["disagreements"] = _with_texts(gaps, pd.concat(second["texts"], ignore_index=True))
    metrics["flags"] = _section(second["flags"], lambda st: _flags(st, tables))
    if noise_study is not None:
        metrics["noise_study"] = _section(None, lambda _: _noise(noise_study, figures))
    progress.update()
    progress.close()
    metrics = jsonable(metrics)
    metrics["summary"] = _sentences(metrics)
    metrics["findings"] = _findings(metrics)
    return metrics, figures


_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}


def _findings(m: dict) -> list[dict]:
    """The most important findings, most severe first: one sentence each, with its number, interval
    and n, and the section that holds the evidence. Built from the metrics alone."""
    out: list[dict] = []

    def add(severity: str, section: str, text: str) -> None:
        out.append({"severity": severity, "section": section, "text": text})

    def ok(name: str) -> bool:
        return name in m and m[name].get("computable", True) is not False

    if ok("noise_study") and m["noise_study"].get("warning"):
        add("high", "noise_study", "The reward model learned nothing measurable: " + m["noise_study"]["warning"] + ".")
    if ok("annotators"):
        a = m["annotators"]
        names = sorted({r["annotator"] for r in a["suspects"]})
        if names:
            add(
                "high",
                "annotators",
                f"{len(names)} of {a['summary']['n_annotators']} annotators look like noise "
                f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); their rules and evidence are listed.",
            )
        q = a.get("rankings", {}).get("pairwise_agreement", {})
        if q.get("estimate") is not None:
            add(
                "medium" if q["high"] < 0.65 else "info",
                "annotators",
                f"Two rankers order a pair of replies the same way {q['estimate']:.0%} of the time "
                f"(95% CI {q['low']:.0%}-{q['high']:.0%}, {q['n']:,} comparisons in {q['n_sets']:,} "
                "reply sets, ties left out); published human-human agreement on pairwise preferences runs from 65% "
                "to 87% (MT-Bench experts: 81% without ties), under conventions listed in the consensus section.",
            )
        vs = a.get("rankings", {}).get("vs_export")
        if vs and vs.get("share_identical") is not None and vs["share_identical"] < 0.9:
            add(
                "medium",
                "annotators",
                f"Ranked pairs on the raw rankings reproduces the export's order in only "
                f"{vs['share_identical']:.0%} of {vs['n_groups']:,} reply sets "
                f"(mean Kendall tau {vs['mean_tau']:.2f}).",
            )
    if ok("agreement") and m["agreement"]["flags"]:
        # flags with at least 10 yes votes: below that alpha is not measured at all (the table shows them)
        flags = {
            k: v
            for k, v in m["agreement"]["flags"].items()
            if v.get("alpha") is not None and v["yes_share"] * v["n_votes"] >= 10
        }
        if flags:
            name, f = min(flags.items(), key=lambda kv: kv[1]["alpha"])
            severity = "high" if f["alpha"] < 0.4 else "medium" if f["alpha"] < 0.667 else "low"
            add(
                severity,
                "agreement",
                f"Annotators barely agree on the '{name}' flag: Krippendorff's alpha "
                f"{_r2(f['alpha'])} (95% CI {_r2(f['alpha_low'])} to {_r2(f['alpha_high'])}, "
                f"{f['n_pairable_messages']:,} messages with two or more votes), though they give the same answer "
                "most of the time "
                f"({f['percent_agreement']:.0%}): the flag is rare.",
            )
        likert = [k for k, v in m["agreement"]["not_computable"].items() if "not published" in v]
        if likert:
            add(
                "medium",
                "agreement",
                f"Agreement on the {len(likert)} Likert labels ({', '.join(likert[:3])}, ...) "
                "cannot be measured from this export: it keeps only each message's mean; per-annotator votes "
                "(--annotations) would measure it.",
            )
    if ok("aggregation"):
        zeros = {k: v for k, v in m["aggregation"]["default_zero"].items() if v["p_value"] < 0.01}
        if zeros:
            name, z = max(zeros.items(), key=lambda kv: _excess(kv[1]))
            excess = _excess(z)
            add(
                "medium" if excess > 0.05 else "low",
                "aggregation",
                f"{len(zeros)} Likert labels test positive for stored default zeros (p < 0.01), but their all-zero "
                f"messages exceed a model without defaults by at most {excess:.1%} of messages ({name}: "
                f"{z['all_zero_share']:.1%} against {z['all_zero_expected_without_default']:.1%}); the fitted default "
                "rates are upper bounds.",
            )
        q = m["aggregation"]["labels"].get("quality")
        if q and q["single_vote_share"] > 0.2:
            add(
                "low",
                "aggregation",
                f"{q['single_vote_share']:.0%} of the {q['n_messages']:,} quality scores rest on one vote.",
            )
    if ok("structure") and m["structure"]["problems"]:
        probs = m["structure"]["problems"]
        serious = {k: v for k, v in probs.items() if k in ("cycle", "duplicate_message", "orphan", "multiple_roots")}
        add(
            "medium" if serious else "low",
            "structure",
            f"{sum(probs.values()):,} structural problems in "
            f"{m['structure']['forest']['n_messages']:,} messages ("
            + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in probs.items())
            + "); they usually mean a filtered export.",
        )
    if ok("skew"):
        lang = m["skew"]["language"]
        e = lang["effective_languages"]
        if lang["n_languages"] > 1:
            add(
                "info",
                "skew",
                f"{lang['n_languages']} languages, but effectively {e['estimate']:.1f} "
                f"(95% CI {e['low']:.1f}-{e['high']:.1f}); the top one holds "
                f"{lang['top_language_share']:.0%} of the messages.",
            )
        c = m["skew"]["contributors"]
        if c.get("n_contributors"):
            add(
                "info",
                "skew",
                f"The top 1% of {c['n_contributors']:,} contributors wrote {c['top_1pct_share']:.0%} of "
                f"the messages (Gini {c['gini']['estimate']:.2f}, "
                f"95% CI {c['gini']['low']:.2f}-{c['gini']['high']:.2f}).",
            )
    if ok("toxicity") and m["toxicity"].get("available"):
        rows = [r for r in m["toxicity"]["agreement"] if r["head"] == "toxicity" and r["label"] == "toxicity"]
        if rows and rows[0]["auc"] is not None:
            r = rows[0]
            add(
                "low",
                "toxicity",
                f"Detoxify separates the {r['n_positive']:,} messages humans call toxic with ROC-AUC "
                f"{r['auc']:.2f} (95% CI {r['auc_low']:.2f}-{r['auc_high']:.2f}, n = {r['n']:,}).",
            )
    if ok("flags") and m["flags"]["n_flags"]:
        serious = sum(r["n"] for r in m["flags"]["by_kind"] if r["severity"] in ("high", "medium"))
        add(
            "medium" if serious else "low",
            "flags",
            f"{m['flags']['n_flags']:,} flags on {m['flags']['n_messages']:,} "
            f"messages, {serious:,} of them of medium or high severity: flags.csv lists each with its evidence.",
        )
    out.sort(key=lambda f: _RANK[f["severity"]])
    return out[:10]


def _section(stats: Any, finalize: Callable[[Any], Any]) -> dict:
    """One section's metrics from its merged statistics, or why it could not be computed."""
    out = stats if isinstance(stats, partials.Failed) else partials.guarded(lambda: finalize(stats))
    if isinstance(out, partials.Failed):
        return {"computable": False, "reason": out.reason} | ({"error": out.error} if out.error else {})
    return out


def build(
    dataset,
    out_dir: str | Path = "report",
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    quiet: bool = False,
    noise_study=None,
) -> Path:
    """Write ``index.html``, ``metrics.json`` and the curation table (``flags.parquet``, ``flags.csv``)
    for ``dataset`` into ``out_dir``; return the HTML path.

    ``noise_study`` (a :class:`~oasst_quality.reward.NoiseStudyResult`) adds the noise-study section.
    """
    out = check_output_folder(out_dir)  # before minutes of computing, not after
    tables: dict[str, pd.DataFrame] = {}
    metrics, figures = compute(
        dataset, n_resamples=n_resamples, seed=seed, quiet=quiet, noise_study=noise_study, tables=tables
    )
    env = Environment(
        loader=PackageLoader("oasst_quality.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["num"] = _num
    env.filters["pvalue"] = _pvalue
    env.filters["pct"] = _pct
    html = env.get_template("report.html.j2").render(m=metrics, fig=figures)
    files: dict[str, bytes | str] = {"metrics.json": json.dumps(metrics, indent=2, allow_nan=False), "index.html": html}
    if "flags" in tables:
        files |= flag_files(tables["flags"])
    replace_into(out, files)
    return out / "index.html"


def flag_files(table: pd.DataFrame) -> dict[str, bytes]:
    """The curation table as ``flags.parquet`` and ``flags.csv`` (bytes), to write beside a report."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table.astype({"severity": str}), preserve_index=False)
    parquet, csv = pa.BufferOutputStream(), pa.BufferOutputStream()
    pq.write_table(arrow, parquet)
    pcsv.write_csv(arrow, csv, pcsv.WriteOptions(quoting_style="needed"))  # C++: 5-10x faster than pandas
    return {"flags.parquet": parquet.getvalue().to_pybytes(), "flags.csv": csv.getvalue().to_pybytes()}


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.000"
    return str(value)


def _pct(value: Any) -> str:
    """A share as a percentage with one decimal ("–" when missing)."""
    return "–" if value is None else f"{100 * value:.1f}%"


def _pvalue(value: Any) -> str:
    """A p-value as a reader wants it: 4 decimals, and "< 0.0001" rather than 0.0000."""
    if value is None:
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _r2(x: float) -> str:
    """Two decimals, without the "-0.00" that rounding a tiny negative number prints."""
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def _excess(row: dict) -> float:
    """All-zero messages beyond what a model without stored defaults expects (a share of messages)."""
    return row["all_zero_share"] - row["all_zero_expected_without_default"]
