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

from .. import __version__, skew
from .. import aggregation as agg
from .. import agreement as ag
from .. import consensus as cs
from .. import toxicity as tx
from .._util import check_output_folder, jsonable, replace_into
from ..errors import OasstQualityError
from . import plots

SCHEMA_VERSION = 1


def _shown(source: str | None) -> str | None:
    """The input as a shared report should show it: as given when relative, else its file name
    (an absolute path tells readers about the machine, not the data)."""
    return source if source is None or not Path(source).is_absolute() else Path(source).name


def _structure(ds, figures: dict) -> dict:
    summary = ds.summary() | {"source": _shown(ds.source)}
    stats = summary["forest"]
    figures["depth"] = plots.bars(stats["depth_counts"], "Messages by depth (0 = root)", "depth")
    figures["branching"] = plots.bars(
        stats["branching_counts"], "Replies per message that has replies", "replies", "messages"
    )
    figures["languages"] = plots.bars(stats["by_lang"], "Messages by declared language (top 20)", "language")
    return summary


def _agreement(ds, figures: dict, n_resamples: int, seed: int) -> dict:
    table = ag.label_agreement(ds, n_resamples=n_resamples, seed=seed)
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
    cols = ag.FLAG_AGREEMENT_COLUMNS
    counts = ("n_pairable_messages", "n_votes", "n_inconsistent")
    return {
        "flags": {r["label"]: {c: int(r[c]) if c in counts else r[c] for c in cols} for _, r in flags.iterrows()},
        "not_computable": {r["label"]: r["reason"] for _, r in table[~table["computable"]].iterrows()},
        "n_resamples": n_resamples,
    }


def _aggregation(ds, figures: dict) -> dict:
    labels = agg.posterior_summary(ds)
    out: dict[str, Any] = {
        "labels": {r["label"]: {k: r[k] for k in labels.columns if k != "label"} for _, r in labels.iterrows()},
        "default_zero": {},
    }
    zeros = agg.default_zero_bias(ds)
    if len(zeros):
        figures["zero_bias"] = plots.zero_bias(zeros)
        out["default_zero"] = {
            r["label"]: {k: r[k] for k in zeros.columns if k != "label"} for _, r in zeros.iterrows()
        }
    return out


def _consensus(ds) -> dict:
    return cs.ranking_summary(ds) | {"per_ranker_data": False}


def _skew(ds, figures: dict, n_resamples: int, seed: int) -> dict:
    out: dict[str, Any] = {"language": skew.language_skew(ds, n_resamples=n_resamples, seed=seed)}
    conc = skew.contributor_concentration(ds, n_resamples=n_resamples, seed=seed)
    if conc.get("n_contributors"):
        lor = conc.pop("lorenz")
        figures["lorenz"] = plots.lorenz(lor["x"], lor["y"], conc["gini"]["estimate"])
        out["without_top_1pct"] = skew.without_top_contributors(ds)
        deciles = skew.quality_by_group(ds, by="contributor_decile")
        if len(deciles):
            figures["quality_by_decile"] = plots.group_means(
                deciles, "contributor_decile", "Quality by contributor decile (1 = most prolific; 95% CI)"
            )
            out["quality_by_contributor_decile"] = deciles
    out["contributors"] = conc
    by_lang = skew.quality_by_group(ds, by="lang")
    if len(by_lang) > 1:
        figures["quality_by_lang"] = plots.group_means(by_lang, "lang", "Quality by language (95% CI)")
    out["quality_by_language"] = by_lang
    return out


def _toxicity(ds, figures: dict, n_resamples: int, seed: int) -> dict:
    if ds.detoxify.empty:
        return {"available": False, "note": "the export carries no Detoxify scores; run score_texts for a model"}
    table = tx.agreement_with_labels(ds, n_resamples=n_resamples, seed=seed)
    cal = tx.calibration(ds)
    figures["calibration"] = plots.calibration(cal)
    worst = tx.disagreements(ds, k=8)
    worst["text"] = worst["text"].str.slice(0, 300)
    return {
        "available": True,
        "source": "export",
        "agreement": table,
        "calibration": cal,
        "disagreements": worst[["message_id", "lang", "score", "human", "direction", "text"]],
    }


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


def _flags(ds, annotators: dict | None, tables: dict) -> dict:
    """The curation table (written beside the report) in counts, with the first examples of each kind."""
    from ..flags import curation_flags

    usable = annotators if annotators and annotators.get("computable", True) is not False else None
    table = curation_flags(ds, annotators=usable)
    tables["flags"] = table
    text = ds.messages.set_index("message_id")["text"]
    examples = {}
    for kind, g in table.groupby("kind", sort=False):
        top = g.head(5)
        snippets = text.reindex(top["message_id"]).fillna("").str.slice(0, 160).to_numpy()
        examples[kind] = top.assign(text=snippets)[["message_id", "severity", "label", "evidence", "text"]]
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

    return summarize(ds.annotations, export_rankings=cs.rankings_from_dataset(ds), n_resamples=n_resamples, seed=seed)


def _noise(study, figures: dict) -> dict:
    png = io.BytesIO()
    study.plot(png)
    figures["noise"] = plots.png_uri(png.getvalue())
    return study.to_dict()


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

    ``noise_study``: a :class:`~oasst_quality.reward.NoiseStudyResult` to add as a section.
    ``tables``: a dict that receives the full tables behind the page (``"flags"``: the curation table).
    """
    figures: dict[str, str] = {}
    tables = {} if tables is None else tables
    steps: dict[str, Callable[[], Any]] = {
        "structure": lambda: _structure(dataset, figures),
        "agreement": lambda: _agreement(dataset, figures, n_resamples, seed),
        "aggregation": lambda: _aggregation(dataset, figures),
        "consensus": lambda: _consensus(dataset),
        "skew": lambda: _skew(dataset, figures, n_resamples, seed),
        "toxicity": lambda: _toxicity(dataset, figures, n_resamples, seed),
    }
    metrics: dict[str, Any] = {
        "meta": {
            "schema_version": SCHEMA_VERSION,
            "oasst_quality": __version__,
            "n_resamples": n_resamples,
            "seed": seed,
            "source": _shown(dataset.source),
        }
    }
    if dataset.annotations is not None:
        steps["annotators"] = lambda: _annotators(dataset, n_resamples, seed)
    steps["flags"] = lambda: _flags(dataset, metrics.get("annotators"), tables)
    if noise_study is not None:
        steps["noise_study"] = lambda: _noise(noise_study, figures)
    for name in tqdm(list(steps), desc="report", disable=quiet, unit="section"):
        metrics[name] = _section(steps[name])
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


def _section(step: Callable[[], Any]) -> dict:
    """One section's metrics, or why it could not be computed: one section never stops the others."""
    try:
        return step()
    except OasstQualityError as exc:
        return {"computable": False, "reason": str(exc)}
    except Exception as exc:  # a bug on unusual data must not cost the curator the whole report
        return {
            "computable": False,
            "reason": f"failed with {type(exc).__name__}: {exc} (please report this with the input's shape)",
            "error": type(exc).__name__,
        }


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
    html = env.get_template("report.html.j2").render(m=metrics, fig=figures)
    files: dict[str, bytes | str] = {"metrics.json": json.dumps(metrics, indent=2, allow_nan=False), "index.html": html}
    if "flags" in tables:
        files |= flag_files(tables["flags"])
    replace_into(out, files)
    return out / "index.html"


def flag_files(table: pd.DataFrame) -> dict[str, bytes]:
    """The curation table as ``flags.parquet`` and ``flags.csv`` (bytes), to write beside a report."""
    buf = io.BytesIO()
    table.astype({"severity": str}).to_parquet(buf, index=False)
    return {"flags.parquet": buf.getvalue(), "flags.csv": table.to_csv(index=False).encode("utf-8")}


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
