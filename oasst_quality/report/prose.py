"""The report's English: a few sentences per section and the findings, written from the metrics alone.

Each section has a ``*_sentences(m)`` writer (two or three plain sentences from its numbers) and a
``*_findings(m)`` writer (what stands out, with its number, interval and n); the registry of
:mod:`oasst_quality.report.sections` names them. ``m`` is the JSON-ready metrics dictionary.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..estimate import interval_text
from ..references import PAIRWISE_AGREEMENT

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}


def finding(severity: str, section: str, text: str) -> dict:
    """One finding: its severity (``high``, ``medium``, ``low``, ``info``), section and sentence."""
    return {"severity": severity, "section": section, "text": text}


def r2(x: float) -> str:
    """Two decimals, without the "-0.00" that rounding a tiny negative number prints."""
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def _ci(e: dict, fmt: str) -> str:
    """An estimate's interval in a sentence: "95% CI low-high", or "no interval: REASON"."""
    return interval_text(e, fmt, f"{e['confidence']:.0%} CI {{low}}-{{high}}")


def _row_ci(r: Any, name: str, prefix: str = "") -> str:
    """A table row's ``NAME_low``-``NAME_high`` at two decimals, or "no interval: REASON" where the data
    gave none (an empty end): the row's ``NAME_no_interval`` (perfect separation, perfect rank
    agreement, every resample alike), else "the data cannot give one"."""
    ends = {end: _cell(r, f"{name}_{end}") for end in ("low", "high")}
    why = _cell(r, f"{name}_no_interval") or "the data cannot give one"
    return interval_text(ends | {"no_interval": why}, ".2f", prefix + "{low}-{high}")


def _cell(r: Any, key: str) -> Any:
    """A row's (dict or Series) value under ``key``; None where it has none or it is missing."""
    value = r.get(key)
    return None if value is None or pd.isna(value) else value


def _excess(row: dict) -> float:
    """All-zero messages beyond what a model without stored defaults expects (a share of messages)."""
    return row["all_zero_share"] - row["all_zero_expected_without_default"]


# --------------------------------------------------------------------------- structure


def structure_sentences(m: dict) -> list[str]:
    f = m["structure"]["forest"]
    probs = m["structure"]["problems"]
    return [
        f"{f['n_messages']:,} messages in {f['n_trees']:,} trees, {f['n_threads']:,} root-to-leaf threads; "
        f"{f['n_ranked_sibling_groups']:,} reply sets carry rankings.",
        (
            "Structural problems: "
            + "; ".join(
                f"{v:,} {k.replace('_', ' ')}{'s' if v != 1 else ''} ({PROBLEM_MEANING.get(k, 'see the flags table')})"
                for k, v in probs.items()
            )
            + ". None of them stops loading."
        )
        if probs
        else "No structural problems were found.",
    ]


#: What each kind of structural problem usually means, for the sentence that counts them.
PROBLEM_MEANING = {
    "orphan": "a reply whose parent is missing: the export was filtered, to a language or without deleted messages",
    "rank_gap": "ranks with a hole: a ranked reply was filtered out",
    "rank_collision": "two replies with one rank: ranks were merged or copied",
    "duplicate_message": "a message id seen twice: the second copy was set aside",
    "duplicate_tree": "a tree seen twice: files or shards overlap; the second copy was set aside",
    "cycle": "a message among its own ancestors: the ids are corrupt",
    "multiple_roots": "a tree with more than one prompt at its root",
    "role_alternation": "prompter and assistant do not alternate along a thread",
    "tree_id_mismatch": "a message filed under another tree than its parent",
    "parse_error": "a line that is not JSON, set aside",
    "schema_error": "a record that does not fit the schema, set aside",
}


def structure_findings(m: dict) -> list[dict]:
    probs = m["structure"]["problems"]
    if not probs:
        return []
    serious = {k: v for k, v in probs.items() if k in ("cycle", "duplicate_message", "orphan", "multiple_roots")}
    return [
        finding(
            "medium" if serious else "low",
            "structure",
            f"{sum(probs.values()):,} structural problems in "
            f"{m['structure']['forest']['n_messages']:,} messages ("
            + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in probs.items())
            + "): the structure section says what each kind usually means.",
        )
    ]


# --------------------------------------------------------------------------- agreement


def agreement_sentences(m: dict) -> list[str]:
    flags = m["agreement"]["flags"]
    if not flags and not m["agreement"]["not_computable"]:
        return ["The export carries no labels, so there is no agreement between labellers to measure."]
    alphas = [v["alpha"] for v in flags.values() if v["alpha"] is not None]
    if not alphas:
        return [_not_computable_sentence(m["agreement"]["not_computable"])]
    raw = [v["percent_agreement"] for v in flags.values()]
    return [
        f"Raw agreement on the flags ranges from {min(raw):.0%} to {max(raw):.0%}, but Krippendorff's alpha only "
        f"from {r2(min(alphas))} to {r2(max(alphas))}: the flags are rare, so two labellers agree by chance "
        "almost always "
        "(Gwet's AC1, which discounts chance differently, stays high).",
        "Wide intervals mark flags with only a handful of 'yes' votes: their agreement is barely measured.",
        _not_computable_sentence(m["agreement"]["not_computable"]),
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


def agreement_findings(m: dict) -> list[dict]:
    if not m["agreement"]["flags"]:
        return []
    out = []
    # flags with at least 10 yes votes: below that alpha is not measured at all (the table shows them)
    flags = {
        k: v
        for k, v in m["agreement"]["flags"].items()
        if v.get("alpha") is not None and v["yes_share"] * v["n_votes"] >= 10
    }
    if flags:
        name, f = min(flags.items(), key=lambda kv: kv[1]["alpha"])
        severity = "high" if f["alpha"] < 0.4 else "medium" if f["alpha"] < 0.667 else "low"
        ends = {"low": f["alpha_low"], "high": f["alpha_high"]}
        why = f.get("alpha_no_interval") or "one pairable message, or every resample alike"
        interval = interval_text(ends | {"no_interval": why}, form="95% CI {low} to {high}", show=r2)
        out.append(
            finding(
                severity,
                "agreement",
                f"Annotators barely agree on the '{name}' flag: Krippendorff's alpha "
                f"{r2(f['alpha'])} ({interval}, "
                f"{f['n_pairable_messages']:,} messages with two or more votes), though they give the same answer "
                "most of the time "
                f"({f['percent_agreement']:.0%}): the flag is rare.",
            )
        )
    voted = set(m["annotators"]["summary"]["labels"]) if m.get("annotators", {}).get("summary") else set()
    likert = [k for k, v in m["agreement"]["not_computable"].items() if "not published" in v and k not in voted]
    if likert:  # labels the per-annotator votes given measure are in the annotators section instead
        out.append(
            finding(
                "medium",
                "agreement",
                f"Agreement on the {len(likert)} Likert labels ({', '.join(likert[:3])}"
                f"{', ...' if len(likert) > 3 else ''}) cannot be measured from this export: it keeps only each "
                "message's mean; per-annotator votes (--annotations) would measure it.",
            )
        )
    return out


# --------------------------------------------------------------------------- aggregation


def aggregation_sentences(m: dict) -> list[str]:
    out = []
    lab = m["aggregation"]["labels"]
    if not lab:
        return ["The export carries no labels, so there is nothing to aggregate."]
    if lab.get("quality"):
        q = lab["quality"]
        out.append(
            f"{q['single_vote_share']:.1%} of quality scores rest on a single vote; their 95% intervals are "
            f"{(q['mean_interval_width_single_vote'] or 0):.2f} wide on average against {q['mean_interval_width']:.2f}"
            " overall, and the posterior pulls them toward the label's typical value."
        )
    zeros = m["aggregation"]["default_zero"]
    if zeros:
        high = {k: v for k, v in zeros.items() if v["p_value"] < 0.01}
        out.append(
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
    return out


def aggregation_findings(m: dict) -> list[dict]:
    out = []
    zeros = {k: v for k, v in m["aggregation"]["default_zero"].items() if v["p_value"] < 0.01}
    if zeros:
        name, z = max(zeros.items(), key=lambda kv: _excess(kv[1]))
        excess = _excess(z)
        out.append(
            finding(
                "medium" if excess > 0.05 else "low",
                "aggregation",
                f"{len(zeros)} Likert labels test positive for stored default zeros (p < 0.01), but their all-zero "
                f"messages exceed a model without defaults by at most {excess:.1%} of messages ({name}: "
                f"{z['all_zero_share']:.1%} against {z['all_zero_expected_without_default']:.1%}); the fitted default "
                "rates are upper bounds.",
            )
        )
    q = m["aggregation"]["labels"].get("quality")
    if q and q["single_vote_share"] > 0.2:
        out.append(
            finding(
                "low",
                "aggregation",
                f"{q['single_vote_share']:.0%} of the {q['n_messages']:,} quality scores rest on one vote.",
            )
        )
    return out


# --------------------------------------------------------------------------- consensus


def consensus_sentences(m: dict) -> list[str]:
    c = m["consensus"]
    return [
        f"{c['n_ranked_groups']:,} reply sets were ranked, giving {c['n_preference_pairs']:,} (chosen, rejected) "
        "pairs for a reward model.",
        "The public file holds only the merged ranking of each set, so cycle rates, ties and each ranker's "
        "agreement with the consensus need per-ranker data (`oasst-quality consensus rankings.csv`).",
    ]


# --------------------------------------------------------------------------- skew


def skew_sentences(m: dict) -> list[str]:
    lang = m["skew"]["language"]
    conc = m["skew"]["contributors"]
    eff = lang["effective_languages"]["estimate"]
    if lang["n_languages"] == 1:  # one language has no spread to estimate: no interval to show
        out = [f"Every message is in one language ({', '.join(lang['counts'])})."]
    else:
        out = [
            f"{lang['n_languages']} languages, effectively {eff:.1f} "
            f"({_ci(lang['effective_languages'], '.1f')}); the top "
            f"language holds {lang['top_language_share']:.0%} of the messages."
        ]
    if conc.get("n_contributors"):
        w = m["skew"]["without_top_1pct"]
        out.append(
            f"{conc['n_contributors']:,} contributors; Gini {conc['gini']['estimate']:.2f} "
            f"({_ci(conc['gini'], '.2f')}); the top 1% wrote "
            f"{conc['top_1pct_share']:.0%} of the messages."
            + (
                f" Leaving them out moves mean quality from {w['mean_all']:.3f} to {w['mean_without_top']:.3f}."
                if w is not None
                else " The export has no quality labels, so what they do to quality cannot be shown."
            )
        )
    return out


def skew_findings(m: dict) -> list[dict]:
    out = []
    lang = m["skew"]["language"]
    e = lang["effective_languages"]
    if lang["n_languages"] > 1:
        out.append(
            finding(
                "info",
                "skew",
                f"{lang['n_languages']} languages, but effectively {e['estimate']:.1f} "
                f"({_ci(e, '.1f')}); the top one holds "
                f"{lang['top_language_share']:.0%} of the messages.",
            )
        )
    c = m["skew"]["contributors"]
    if c.get("n_contributors"):
        out.append(
            finding(
                "info",
                "skew",
                f"The top 1% of {c['n_contributors']:,} contributors wrote {c['top_1pct_share']:.0%} of "
                f"the messages (Gini {c['gini']['estimate']:.2f}, "
                f"{_ci(c['gini'], '.2f')}).",
            )
        )
    return out


# --------------------------------------------------------------------------- toxicity


def toxicity_sentences(m: dict) -> list[str]:
    if not m["toxicity"].get("available"):
        return []  # the section shows its note
    rows = pd.DataFrame(m["toxicity"]["agreement"])
    main = rows[(rows["head"] == "toxicity") & (rows["label"] == "toxicity")] if len(rows) else rows
    if not len(main):
        return []
    r = main.iloc[0]
    return [
        f"Detoxify's toxicity score (from the export) follows the human toxicity label only weakly in rank: "
        f"Spearman {r['spearman']:.2f} ({_row_ci(r, 'spearman')}), but it "
        f"separates the {r['n_positive']} messages humans call toxic with ROC-AUC {r['auc']:.2f} "
        f"({_row_ci(r, 'auc')}).",
        "Most scores sit near zero, so the model says little about mildly toxic text; the table of "
        "disagreements shows where reading the messages is worth it.",
    ]


def toxicity_findings(m: dict) -> list[dict]:
    if not m["toxicity"].get("available"):
        return []
    rows = [r for r in m["toxicity"]["agreement"] if r["head"] == "toxicity" and r["label"] == "toxicity"]
    if not rows or rows[0]["auc"] is None:
        return []
    r = rows[0]
    return [
        finding(
            "low",
            "toxicity",
            f"Detoxify separates the {r['n_positive']:,} messages humans call toxic with ROC-AUC "
            f"{r['auc']:.2f} ({_row_ci(r, 'auc', '95% CI ')}, n = {r['n']:,}).",
        )
    ]


# --------------------------------------------------------------------------- flags


def flags_findings(m: dict) -> list[dict]:
    f = m["flags"]
    if not f["n_flags"]:
        return []
    serious = sum(r["n"] for r in f["by_kind"] if r["severity"] in ("high", "medium"))
    return [
        finding(
            "medium" if serious else "low",
            "flags",
            f"{f['n_flags']:,} flags on {f['n_messages']:,} "
            f"messages, {serious:,} of them of medium or high severity: flags.csv lists each with its evidence.",
        )
    ]


# --------------------------------------------------------------------------- annotators


def _mean_tau(vs: dict) -> str:
    """The mean Kendall tau of the raw consensus against the export, where a reply set had two replies."""
    return f" (mean Kendall tau {vs['mean_tau']:.2f})" if vs.get("mean_tau") is not None else ""


def annotators_sentences(m: dict) -> list[str]:
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
            f"{vs['n_groups']:,} reply sets{_mean_tau(vs)}."
        )
    return out


def _population(e: dict) -> str:
    """A pairwise agreement's pair population in words: a single pairwise judgment where every reply
    set has two replies, else which pairs of each ranking it counts."""
    if e["largest_set"] == 2:
        return "single pairwise judgments"
    which = "all pairs" if e["pairs"] == "all" else "adjacent pairs (by net margin)"
    return f"{which} of each ranking of up to {e['largest_set']} replies"


def _same_convention(e: dict, band: dict) -> bool:
    """Whether a published band was measured under an estimate's tie convention and pair population."""
    return band["ties"] == e["ties"] and band["pairs"] == _population(e)


def _band(ties: str) -> float:
    """MT-Bench's expert agreement under a tie convention (the bands with a stated one)."""
    return next(b["agreement"] for b in PAIRWISE_AGREEMENT if b["ties"] == ties and b["source"].startswith("MT-Bench"))


def annotators_findings(m: dict) -> list[dict]:
    out = []
    a = m["annotators"]
    names = sorted({r["annotator"] for r in a["suspects"]})
    if names:
        out.append(
            finding(
                "high",
                "annotators",
                f"{len(names)} of {a['summary']['n_annotators']} annotators show evidence of random, constant or "
                f"reversed answering, at chance or copying the displayed order ({', '.join(names[:5])}"
                f"{', ...' if len(names) > 5 else ''}; false discovery rate 10 %); rules and evidence are listed.",
            )
        )
    q = a.get("rankings", {}).get("pairwise_agreement", {})
    qt = a.get("rankings", {}).get("pairwise_agreement_with_ties", {})
    if q.get("estimate") is not None:
        shown = [e for e in (q, qt) if e.get("estimate") is not None]
        measured = " and ".join(
            f"{e['estimate']:.0%} with ties {e['ties']} ({_ci(e, '.0%')}, {e['n']:,} pairs of votes)" for e in shown
        )
        matched = [(e, b) for e in shown for b in PAIRWISE_AGREEMENT if _same_convention(e, b)]
        if matched:
            compared = "; ".join(
                f"{b['source']}, the same convention ({b['pairs']}, ties {b['ties']}): {b['agreement']:.0%}"
                for _, b in matched
            )
        else:
            compared = (
                f"no published band uses this pair population (MT-Bench's {_band('left out'):.0%} with ties left "
                f"out and {_band('counted'):.0%} with ties counted are single pairwise judgments), so it is not "
                "compared with one"
            )
        below = any(e["high"] is not None and e["high"] < b["agreement"] for e, b in matched)
        out.append(
            finding(
                "medium" if below else "info",
                "annotators",
                f"Two rankers judge a pair of replies alike {measured}, over {q['n_sets']:,} reply sets "
                f"({_population(q)}); {compared}.",
            )
        )
    vs = a.get("rankings", {}).get("vs_export")
    if vs and vs.get("share_identical") is not None and vs["share_identical"] < 0.9:
        out.append(
            finding(
                "medium",
                "annotators",
                f"Ranked pairs on the raw rankings reproduces the export's order in only "
                f"{vs['share_identical']:.0%} of {vs['n_groups']:,} reply sets{_mean_tau(vs)}.",
            )
        )
    return out


# --------------------------------------------------------------------------- noise study


def noise_study_sentences(m: dict) -> list[str]:
    n = m["noise_study"]
    how = "a head on the frozen encoder" if n["mode"] == "frozen" else "the fine-tuned encoder"
    out = [
        f"Trained on {n['n_train']:,} pairs ({how}) and tested on {n['n_test']:,} clean pairs from other trees, the "
        f"reward model reaches {n['fitted_clean_accuracy']:.3f} (measured without noise, mean over seeds; "
        f"{_ci(n['clean'], '.3f')} over seeds and test trees); the accuracy per "
        f"{n['noise']} flip rate is measured, with a decreasing fit through it.",
    ]
    if n["warning"]:
        out.append(f"Warning: {n['warning']}.")
    return out


def noise_study_findings(m: dict) -> list[dict]:
    if not m["noise_study"].get("warning"):
        return []
    text = f"The reward model learned nothing measurable: {m['noise_study']['warning']}."
    return [finding("high", "noise_study", text)]


# --------------------------------------------------------------------------- preference pairs


def pairs_sentences(m: dict) -> list[str]:
    n = m["pairs"]
    e = n["noise_rate"]
    out = [
        f"Of {n['n_pairs']:,} preference pairs, {n['n_suspect']:,} are more likely flipped than not "
        "(p_flipped >= 0.5); "
        f"the estimated noise rate is {e['estimate']:.3f} ({_ci(e, '.3f')} over trees)."
    ]
    if not e.get("from_votes"):
        out.append(
            "Without per-ranker rankings the rate rests on weak evidence (quality labels, margins) and is not "
            "identified (on planted data it read 0.07 where 0.28 were flipped): p_flipped ranks the pairs, the rate "
            "is no guide."
        )
    checks = n["self_check"]
    if checks:
        best = max(checks, key=lambda c: c["auroc"])
        out.append(
            f"Flips planted in these pairs are found with AUROC {best['auroc']:.2f} by {best['source']} "
            f"(self-check, {best['n_pairs']:,} pairs)."
        )
    return out


def pairs_findings(m: dict) -> list[dict]:
    n = m["pairs"]
    e = n["noise_rate"]
    if not e.get("from_votes") or e["low"] is None or e["low"] < 0.2:
        return []
    text = (
        f"At least a fifth of the preference pairs look flipped: noise rate {e['estimate']:.3f} "
        f"({_ci(e, '.3f')}), n = {n['n_pairs']:,} pairs."
    )
    return [finding("medium", "pairs", text)]
