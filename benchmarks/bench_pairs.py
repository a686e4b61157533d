"""Suspect preference pairs on the three real OASST samples with planted rankers: the figures of docs/pairs.md.

    python benchmarks/bench_pairs.py                    # votes + quality, quality alone; three seeds
    python benchmarks/bench_pairs.py --margins          # adds MiniLM margins, the self-check and the cleaning table
    python benchmarks/bench_pairs.py --plot docs/img/pairs_reliability.png

Each dataset's real ranks are the truth; four planted rankers per reply set (three honest, ranking
by the true position plus N(0, noise²), one random, from pools of six and two) make the export's
ranks by Borda (ties broken by the shown order), reversed outright in 10 % of the sets
(:func:`oasst_quality.verdicts.pairs.planted_preferences`).
``--margins`` embeds every pair once with the frozen MiniLM (minutes on two cores; ``--cache FILE``
keeps the embeddings in an .npz for reruns).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import oasst_quality as oq
from oasst_quality.verdicts import pairs as vp

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = (
    "oasst1_en_validation_turku/en-validation.jsonl.gz",
    "oasst2_openpaws_filtered/oasst2_filtered.jsonl.gz",
    "oasst_laion_en100_sample/en_100_tree.jsonl.gz",
)


def bin_gap(p: np.ndarray, truth: np.ndarray, bins: int) -> float:
    """The largest gap between mean p_flipped and the planted share over ``bins`` equal-count bins."""
    b = np.clip(np.searchsorted(np.quantile(p, np.linspace(0, 1, bins + 1)), p, side="right") - 1, 0, bins - 1)
    d = pd.DataFrame({"b": b, "p": p, "t": truth}).groupby("b").mean()
    return float((d["p"] - d["t"]).abs().max())


def reliability(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> pd.DataFrame:
    b = np.clip((p * bins).astype(int), 0, bins - 1)
    return (
        pd.DataFrame({"bin": b, "predicted": p, "planted": truth})
        .groupby("bin")
        .agg(n=("predicted", "size"), predicted=("predicted", "mean"), planted=("planted", "mean"))
    )


def plot(table: pd.DataFrame, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    ax.plot(table["predicted"], table["planted"], "o-", label="planted share per bin")
    for _, r in table.iterrows():
        where = (r["predicted"], r["planted"])
        ax.annotate(str(int(r["n"])), where, fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set_xlabel("mean p_flipped in the bin")
    ax.set_ylabel("share of pairs planted flipped")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--noise", type=float, default=1.4, help="honest rankers' noise (default 1.4: about 27 % of pairs flipped)"
    )
    parser.add_argument("--seeds", default="0,10,20")
    parser.add_argument("--margins", action="store_true")
    parser.add_argument("--cache", help="an .npz to keep the MiniLM embeddings in")
    parser.add_argument("--plot", help="write the reliability diagram (seed of the first run) here")
    args = parser.parse_args()
    datasets = [oq.load(SHARED / name, lenient=True) for name in SAMPLES]
    rows = []
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        planted = vp.planted_preferences(datasets, noise=args.noise, seed=seed)
        votes = vp.ranker_votes(planted.pairs, planted.rankings)
        v = vp.flip_model(planted.pairs, votes=votes, quality=planted.quality, seed=seed)
        seconds = time.perf_counter() - start
        p = v.table["p_flipped"].to_numpy()
        found = vp.detection(planted.flipped, p)
        e = v.noise_rate
        start = time.perf_counter()
        alone = vp.flip_model(planted.pairs, quality=planted.quality, seed=seed)
        seconds_alone = time.perf_counter() - start
        rows.append(
            {
                "seed": seed,
                "pairs": len(p),
                "flipped": found["true_share"],
                "auroc": found["auroc"],
                "mean_p": e.estimate,
                "rate_low": e.low,
                "rate_high": e.high,
                "covers": e.low <= found["true_share"] <= e.high,
                "quintile_gap": bin_gap(p, planted.flipped, 5),
                "decile_gap": bin_gap(p, planted.flipped, 10),
                "seconds": seconds,
                "auroc_quality_alone": vp.detection(planted.flipped, alone.table["p_flipped"])["auroc"],
                "mean_p_quality_alone": alone.noise_rate.estimate,
                "seconds_alone": seconds_alone,
            }
        )
        if i == 0:
            diagram = reliability(p, planted.flipped)
            print("reliability (ten equal-width bins of p_flipped), seed", seed)
            print(diagram.round(3).to_string())
            print(v.rankers.round(3).to_string(index=False))
            if args.plot:
                plot(diagram, args.plot, f"{len(p):,} planted pairs, rankings + quality (seed {seed})")
            first = (planted, votes, v)
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    if args.margins:
        from oasst_quality.reward.margins import cross_fitted_margins, pair_embeddings

        planted, votes, v = first
        start = time.perf_counter()
        if args.cache and Path(args.cache).exists():
            z = np.load(args.cache)
            chosen, rejected = z["chosen"], z["rejected"]
        else:
            chosen, rejected = pair_embeddings(planted.pairs)
            if args.cache:
                np.savez(args.cache, chosen=chosen, rejected=rejected)
        print(f"embeddings: {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        m = cross_fitted_margins(chosen, rejected, planted.pairs["group"], folds=5, ensemble=3)
        print(f"cross-fitted margins (5 folds x 3 heads): {time.perf_counter() - start:.0f} s")
        for name, kw in (
            ("margins alone", {"margins": m}),
            ("export alone (quality + margins)", {"quality": planted.quality, "margins": m}),
            ("rankings + quality + margins", {"votes": votes, "quality": planted.quality, "margins": m}),
        ):
            fit = vp.flip_model(planted.pairs, n_resamples=20, **kw)
            found = vp.detection(planted.flipped, fit.table["p_flipped"])
            e = fit.noise_rate
            print(
                f"{name}: AUROC {found['auroc']:.3f}, mean p {e.estimate:.3f} ({e.low:.3f}-{e.high:.3f}), "
                f"planted {found['true_share']:.3f}"
            )
        check = vp.self_check(planted.pairs, votes=votes, quality=planted.quality, margins=m, rate=0.1, seed=0)
        print("self-check (10 % more flips planted in the planted export):")
        print(check.round(3).to_string(index=False))
        start = time.perf_counter()
        fit = vp.flip_model(planted.pairs, votes=votes, quality=planted.quality, margins=m, n_resamples=1)
        table = vp.cleaning_table(fit, chosen, rejected, truth=planted.flipped, seeds=(0, 1, 2))
        print(f"cleaning table (clean accuracy against the planted truth; {time.perf_counter() - start:.0f} s):")
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
