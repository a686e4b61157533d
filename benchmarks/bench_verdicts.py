"""Suspect-annotator verdicts measured: planted crowds (precision and recall per rule) and real crowds with gold.

    python benchmarks/bench_verdicts.py            # both tables
    python benchmarks/bench_verdicts.py gold       # the real gold sets only
    python benchmarks/bench_verdicts.py planted    # the planted crowds only
    python benchmarks/bench_verdicts.py flags      # default_zero_suspect on planted OASST-like labels
    python benchmarks/bench_verdicts.py trec       # TREC's verdicts against chance on gold, the consensus's
                                                   # accuracy on gold and the answer shares

Gold sets (``crowd_data.SETS`` plus MS, ZenCrowd, Snow's seven affect labels and wordsim): per set,
the annotators, the suspects, and the median accuracy on gold items (on an interval scale the
correlation with gold, per label) of the suspects and of the others (annotators with at least 5
gold-scored votes). Planted crowds (``planted_crowds``): per rule and votes per annotator, the mean
over seeds of the suspects' precision and the planted annotators' recall; the issue's crowd over
ten seeds, beside what an oracle finds, and seed 8's spammers' agreement with the truth and with
the verdicts' estimate of it. ``gold`` also prints the evidence of every rater named ``compressed_scale``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crowd_data
import planted_crowds

from oasst_quality.verdicts.annotators import ranking_verdicts, vote_verdicts

AFFECT = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "valence")


def _affect() -> tuple[pd.DataFrame, pd.Series]:
    """Snow et al.'s seven affect ratings of the same 100 headlines, one label each (items keyed by label)."""
    parts, golds = [], []
    for dim in AFFECT:
        votes, gold = crowd_data._snow(dim)
        parts.append(votes.assign(label=dim, item=dim + ":" + votes["item"].astype(str)))
        golds.append(gold.rename(lambda i, d=dim: f"{d}:{i}"))
    return pd.concat(parts, ignore_index=True), pd.concat(golds)


def _extra_sets() -> dict:
    base = crowd_data.SHARED / "crowd_activecrowd_toolkit"
    out = {
        "Affect, 7 labels (Snow)": (_affect, "interval"),
        "Wordsim (Snow)": (lambda: crowd_data._snow("wordsim"), "interval"),
    }
    for name, file in (
        ("MS (ActiveCrowd)", "MS.csv"),
        ("ZenCrowd_us (ActiveCrowd)", "ZenCrowd_us.csv.gz"),
        ("ZenCrowd_in (ActiveCrowd)", "ZenCrowd_in.csv.gz"),
    ):
        if (base / file).exists():
            out[name] = (lambda f=file: crowd_data._activecrowd(f), "nominal")
    return out


def gold_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per gold set the verdicts against gold; and the evidence of every rater named ``compressed_scale``
    (their slopes against the crowd's)."""
    rows, compressed = [], []
    sets = {**crowd_data.SETS, **_extra_sets()}
    for name, (reader, scale) in sets.items():
        votes, gold = reader()
        gold = gold[gold.notna() & (gold >= 0) if pd.api.types.is_numeric_dtype(gold) else gold.notna()]
        t = time.perf_counter()
        out = vote_verdicts(votes, levels=scale).set_index("annotator")
        seconds = time.perf_counter() - t
        scored = votes[votes["item"].isin(gold.index)]
        g = gold.reindex(scored["item"]).to_numpy()
        who = scored["annotator"].to_numpy()
        if scale == "interval":  # on an interval scale: each annotator's correlation with gold (higher is better),
            # per label and then averaged over their labels, weighted by their ratings
            pair = pd.DataFrame(
                {
                    "a": who,
                    "label": scored["label"].to_numpy() if "label" in scored else "",
                    "x": scored["value"].to_numpy(float),
                    "g": g.astype(float),
                }
            )
            per = pair.groupby(["a", "label"]).apply(lambda d: pd.Series({"r": d["x"].corr(d["g"]), "n": len(d)}))
            per = per.dropna().assign(rn=lambda d: d["r"] * d["n"]).groupby(level="a")[["rn", "n"]].sum()
            acc = pd.DataFrame({"mean": per["rn"] / per["n"], "size": per["n"]})
        else:
            acc = pd.Series(scored["value"].to_numpy() == g).groupby(who).agg(["mean", "size"])
        acc = acc[acc["size"] >= 5]["mean"]
        sus = out.index[out["verdict"] == "suspect"]
        named = out[out["rule"] == "compressed_scale"]
        compressed += [(name, who, text) for who, text in zip(named.index, named["evidence"])]
        a_s, a_o = acc.reindex(sus).dropna(), acc.drop(sus, errors="ignore")
        rows.append(
            {
                "set": name,
                "level": scale,
                "annotators": len(out),
                "suspects": len(sus),
                "share": len(sus) / len(out),
                "ok": int((out["verdict"] == "ok").sum()),
                "insufficient": int((out["verdict"] == "insufficient data").sum()),
                "compressed_named": int((out["rule"] == "compressed_scale").sum()),
                "gold": "correlation" if scale == "interval" else "accuracy",
                "gold_suspects": a_s.median() if len(a_s) else np.nan,
                "gold_others": a_o.median(),
                "n_scored_suspects": len(a_s),
                "seconds": seconds,
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(compressed, columns=["set", "annotator", "evidence"])


PLANTED = [
    # (name, votes kwargs, level)
    ("uniform spam, binary acc 0.75", {"bad": {"spam": 10}, "k": 2, "accuracy": 0.75}, "nominal", "random_answering"),
    (
        "constant mid, 5-point acc 0.6",
        {"bad": {"constant": 10}, "k": 5, "ordered": True, "accuracy": 0.6},
        "ordinal",
        "constant_answering",
    ),
    (
        "reversed, 5-point acc 0.6",
        {"bad": {"reversed": 10}, "k": 5, "ordered": True, "accuracy": 0.6},
        "ordinal",
        "reversed_scale",
    ),
]


RANKERS = [
    ("rankers at chance, 4 replies", {"bad": {"chance": 10}}, "rankings_at_chance"),
    ("reversed rankers, 4 replies", {"bad": {"reversed": 10}}, "reversed_rankings"),
    ("copiers of the displayed order", {"bad": {"copier": 10}}, "copies_displayed_order"),
]

RATERS = [
    # (name, planted kind, rule): a continuous 0..100 label, honest noise SD 15 (planted_crowds.ratings)
    ("continuous, uniform on 0..100", "random", "random_answering"),
    ("continuous, 4x the noise SD", "noisy", "noisy_ratings"),
    ("continuous, 100 minus an honest rating", "reversed", "reversed_scale"),
    ("continuous, always 50", "constant", "constant_answering"),
    ("continuous, a third of the scale (named, not a suspect)", "compressed", "compressed_scale"),
]


def _scores(out: pd.DataFrame, planted: dict, rule: str) -> tuple[float, float, int]:
    """(precision: the share of the rule's rows that are planted, recall: the share of the planted
    named by the rule, honest annotators flagged suspect); a rule's rows are its suspects, or for
    ``compressed_scale`` (not a suspect) the rows it names."""
    named = out[out["rule"] == rule] if rule == "compressed_scale" else out[out["verdict"] == "suspect"]
    hit = named["annotator"].isin(list(planted)) & (named["rule"] == rule)
    honest = out[~out["annotator"].isin(list(planted))]
    return (
        (hit.mean() if len(named) else np.nan),
        hit.sum() / len(planted),
        int((honest["verdict"] == "suspect").sum()),
    )


def planted_table(seeds: range = range(5), votes_per_item: float = 15) -> pd.DataFrame:
    """Per rule and votes (or rankings) per annotator (10, 20, 50; and 200 for the continuous rules),
    200 honest and 10 planted annotators: mean over seeds of the suspects' precision (suspects that
    are planted and named by the rule), recall and the honest annotators flagged."""
    rows = []
    for n_votes in (10, 20, 50, 200):
        for name, kind, rule in RATERS:
            res = []
            for seed in seeds:
                v, planted = planted_crowds.ratings(
                    n_honest=200, votes_per_honest=n_votes, votes_per_bad=n_votes, bad={kind: 10}, seed=seed
                )
                res.append(_scores(vote_verdicts(v, levels="interval"), planted, rule))
            rows.append((name, rule, n_votes, *np.nanmean(np.array(res, dtype=float), axis=0)))
        if n_votes > 50:  # (200 each: the continuous rules only)
            continue
        for name, kw, level, rule in PLANTED:
            res = []
            for seed in seeds:
                v, planted = planted_crowds.votes(
                    votes_per_honest=n_votes, votes_per_bad=n_votes, votes_per_item=votes_per_item, seed=seed, **kw
                )
                res.append(_scores(vote_verdicts(v, levels=level), planted, rule))
            rows.append((name, rule, n_votes, *np.nanmean(np.array(res, dtype=float), axis=0)))
        for name, kw, rule in RANKERS:
            res = []
            for seed in seeds:
                t, planted = planted_crowds.rankings(
                    rankings_per_honest=n_votes, rankings_per_bad=n_votes, seed=seed, **kw
                )
                res.append(_scores(ranking_verdicts(t), planted, rule))
            rows.append((name, rule, n_votes, *np.nanmean(np.array(res, dtype=float), axis=0)))
    columns = ["crowd", "rule", "per_annotator", "precision", "recall", "honest_flagged"]
    return pd.DataFrame(rows, columns=columns).sort_values(["crowd", "per_annotator"], kind="stable")


def _oracle(votes: pd.DataFrame, planted: dict, fdr: float = 0.1, accuracy: float = 0.75) -> int:
    """The spammers a Bayes rule finds that knows what the verdicts must estimate: the honest
    accuracy, the spammers' share and that honest annotators are unbiased; each item's truth is
    the leave-one-out posterior from the honest votes alone. The count in its Bayesian-FDR set."""
    from scipy import special

    from oasst_quality.verdicts.annotators import _bayes_fdr

    item, _ = pd.factorize(votes["item"])
    who, names = pd.factorize(votes["annotator"])
    code = votes["value"].to_numpy()
    spam = np.isin(names[who], list(planted))
    like = np.where(np.eye(2)[code] == 1, accuracy, 1 - accuracy)  # [vote, true class] for an honest vote
    log_item = np.stack([np.bincount(item, np.log(like[:, k]) * ~spam) for k in range(2)], axis=1)
    q = special.softmax(log_item[item] - np.log(like) * (~spam)[:, None], axis=1)
    llr = np.bincount(who, np.log(0.5) - np.log((q * like).sum(axis=1)))  # log P(spam) / P(honest), per annotator
    prior = len(planted) / len(names)
    p_spam = special.expit(llr + np.log(prior / (1 - prior)))
    return int((_bayes_fdr(p_spam, fdr) & np.isin(names, list(planted))).sum())


def issue_crowd(seeds: range = range(10)) -> pd.DataFrame:
    """The issue's crowd: 200 honest (accuracy 0.75, ~20 votes) and 10 uniform spammers (50 votes),
    ~15 votes per item; with the spammers an oracle (``_oracle``) finds at the same FDR."""
    rows = []
    for seed in seeds:
        v, planted = planted_crowds.votes(votes_per_item=15, seed=seed)
        out = vote_verdicts(v)
        sus = out[out["verdict"] == "suspect"]
        spam = sus["annotator"].isin(list(planted))
        rows.append(
            {
                "seed": seed,
                "honest_flagged": int((~spam).sum()),
                "spammers_flagged": int(spam.sum()),
                "oracle_spammers": _oracle(v, planted),
            }
        )
    return pd.DataFrame(rows)


def spammer_agreement(seed: int = 8) -> pd.DataFrame:
    """The issue's crowd at ``seed``: per planted spammer, its votes, how many agree with the planted
    truth, and how many with the verdicts' own estimate of it (the class each vote's Dawid-Skene
    leave-one-out posterior of the other votes makes likeliest)."""
    from oasst_quality.verdicts.annotators import _vote_scores

    v, planted = planted_crowds.votes(votes_per_item=15, seed=seed)
    truth = v.attrs["truth"].reindex(v["item"]).to_numpy()
    annotators = pd.Index(pd.unique(v["annotator"]))
    (part,) = _vote_scores(v, {"answer": "nominal"}, annotators, ("item", "annotator", "label", "value"))
    estimate = pd.Series(part["q"].argmax(axis=1) == part["code"]).groupby(annotators[part["ann"]]).sum()
    right = pd.Series(v["value"].to_numpy() == truth).groupby(v["annotator"].to_numpy()).agg(["size", "sum"])
    return pd.DataFrame(
        {
            "votes": right.loc[list(planted), "size"].to_numpy(),
            "agree_with_truth": right.loc[list(planted), "sum"].to_numpy(),
            "agree_with_estimate": estimate.reindex(list(planted)).to_numpy(),
        },
        index=pd.Index(list(planted), name="spammer"),
    )


def planted_labels(n=2000, pi=0.05, a=2.0, b=2.0, seed=0) -> tuple[pd.DataFrame, pd.Series]:
    """An OASST-like Likert label (1-5 votes per message, votes Binomial(4, p) / 4 with p ~ Beta(a, b)),
    each vote replaced by a stored 0 with probability ``pi``; the truth: messages with a replaced vote."""
    rng = np.random.default_rng(seed)
    nv = rng.choice([1, 2, 3, 4, 5], n, p=[0.08, 0.2, 0.5, 0.15, 0.07])
    p = rng.beta(a, b, n)
    item = np.repeat(np.arange(n), nv)
    default = rng.random(item.size) < pi
    votes = np.where(default, 0.0, rng.binomial(4, p[item]) / 4)
    ids = [f"m{i}" for i in range(n)]
    table = pd.DataFrame({"item": ids, "label": "creativity", "value": np.bincount(item, votes, n) / nv, "count": nv})
    return table, pd.Series(np.bincount(item, default, n) > 0, index=ids)


def default_zero_table(seeds: range = range(4)) -> pd.DataFrame:
    """Precision of ``default_zero_suspect`` (capped at the all-zero excess) against the old rule (p >= 0.5)."""
    from oasst_quality import flags
    from oasst_quality import published as agg

    rows = []
    for a, b in ((2, 2), (1, 3), (3, 2)):
        for pi in (0.0, 0.05, 0.1, 0.2):
            new = old = new_hit = old_hit = 0
            for seed in seeds:
                lab, truth = planted_labels(pi=pi, a=a, b=b, seed=seed)
                fits = agg.label_fits(agg.grid_patterns(lab))
                f = flags._default_zeros(lab, fits)
                z = agg.default_zero_messages(lab, fits=fits.zero_bias)
                z = z[z["p_defaulted"] >= 0.5]
                new, new_hit = new + len(f), new_hit + int(truth.reindex(f["message_id"]).sum())
                old, old_hit = old + len(z), old_hit + int(truth.reindex(z["item"]).sum())
            rows.append(
                {
                    "prior": f"Beta({a}, {b})",
                    "default_rate": pi,
                    "flags": new,
                    "precision": new_hit / new if new else np.nan,
                    "old_flags": old,
                    "old_precision": old_hit / old if old else np.nan,
                }
            )
    return pd.DataFrame(rows)


def trec_chance(votes: pd.DataFrame, gold: pd.Series, out: pd.DataFrame) -> pd.DataFrame:
    """TREC's verdicts against chance on gold: per verdict, workers with >= 10 gold-scored votes,
    how many beat the accuracy their own label rates would score on their gold items (one-sided
    binomial, p < 0.05), the median margin over that chance level; the same medians for the
    workers with more than 100 compared votes; and of the workers with >= 30 gold-scored votes,
    those at most 0.02 above that chance level (precision and recall against gold)."""
    from scipy import stats

    sc = votes[votes["item"].isin(gold.index)].assign(g=lambda d: gold.reindex(d["item"]).to_numpy())
    rows = []
    for a, sub in sc.groupby("annotator"):
        own = sub["value"].value_counts(normalize=True)
        shares = sub["g"].value_counts(normalize=True)
        chance = float(sum(own.get(k, 0) * shares.get(k, 0) for k in shares.index))
        right = int((sub["value"] == sub["g"]).sum())
        p = stats.binomtest(right, len(sub), chance, alternative="greater").pvalue
        rows.append((a, len(sub), right / len(sub), chance, p))
    g = pd.DataFrame(rows, columns=["annotator", "n_gold", "acc", "chance", "p"]).set_index("annotator")
    out = out.join(g)
    table = []
    for verdict, sub in out.groupby("verdict"):
        scored = sub[sub["n_gold"] >= 10]
        heavy = sub[sub["n_compared"] > 100]
        table.append(
            {
                "verdict": verdict,
                "workers": len(sub),
                "scored_10": len(scored),
                "beat_chance": int((scored["p"] < 0.05).sum()),
                "median_margin": (scored["acc"] - scored["chance"]).median(),
                "heavy": len(heavy),
                "heavy_acc": heavy["acc"].median(),
                "heavy_chance": heavy["chance"].median(),
                # workers with >= 30 gold-scored votes, and those among them at most 0.02 above chance
                "scored_30": int((sub["n_gold"] >= 30).sum()),
                "at_chance_30": int(((sub["n_gold"] >= 30) & (sub["acc"] - sub["chance"] <= 0.02)).sum()),
            }
        )
    return pd.DataFrame(table)


def trec_context(votes: pd.DataFrame, gold: pd.Series, out: pd.DataFrame) -> list[str]:
    """What the TREC verdicts sit among: the crowd's Dawid-Skene consensus (all votes) scored on gold,
    the answer shares of the suspects, of the ``ok`` workers and of gold, and the workers whose
    reliability interval prints as [1.00, 1.00]."""
    from oasst_quality.aggregation import DawidSkene

    scored = gold[gold.notna() & (gold >= 0)]
    consensus = DawidSkene().fit_predict(votes).reindex(scored.index)
    lines = [f"Dawid-Skene consensus on gold: {(consensus == scored).mean():.3f} accurate ({len(scored):,} items)"]
    for verdict in ("suspect", "ok"):
        shares = votes[votes["annotator"].isin(out.index[out["verdict"] == verdict])]["value"]
        lines.append(
            f"answer shares, {verdict} workers: {shares.value_counts(normalize=True).sort_index().round(2).to_dict()}"
        )
    lines.append(f"answer shares, gold: {scored.value_counts(normalize=True).sort_index().round(2).to_dict()}")
    top = out[(out["low"].round(2) == 1) & (out["high"].round(2) == 1)]
    lines.append(f"reliability printed [1.00, 1.00]: {len(top)} workers, the fewest votes {top['n_votes'].min()}")
    return lines


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "both"
    pd.set_option("display.width", 200)
    if what in ("both", "gold"):
        table, compressed = gold_table()
        print(table.round(3).to_string(index=False))
        print("named compressed_scale:")
        print(compressed.to_string(index=False))
    if what in ("both", "planted"):
        print(issue_crowd().T.to_string(header=False))
        print("seed 8's spammers: votes agreeing with the planted truth and with the verdicts' estimate of it")
        print(spammer_agreement(8).T.to_string())
        print(planted_table().round(2).to_string(index=False))
    if what == "trec":
        votes, gold, scale = crowd_data.load("TREC RF10 relevance")
        out = vote_verdicts(votes, levels=scale).set_index("annotator")
        print(trec_chance(votes, gold, out).round(3).to_string(index=False))
        print("\n".join(trec_context(votes, gold, out)))
    if what in ("both", "flags"):
        print(default_zero_table().round(3).to_string(index=False))


if __name__ == "__main__":
    main()
