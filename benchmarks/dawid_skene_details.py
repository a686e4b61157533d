"""The Dawid-Skene details behind docs/aggregation.md: how accuracy depends on the pseudo-count, and
how many EM iterations (and seconds) ours and crowd-kit's take on the two big ordinal sets.

    python benchmarks/dawid_skene_details.py
"""

from __future__ import annotations

import time
import warnings

import crowd_data
from crowdkit.aggregation import DawidSkene as CkDawidSkene

from oasst_quality import aggregation as agg

SMOOTHING = (0.0, 1e-3, 0.01, 0.1)


def accuracy(labels, gold) -> float:
    g = gold.reindex(labels.index).dropna()
    return float((labels[g.index] == g).mean())


def main() -> None:
    warnings.filterwarnings("ignore")
    print("set | " + " | ".join(f"smoothing {s}" for s in SMOOTHING))
    for name, (_, scale) in crowd_data.SETS.items():
        if scale == "interval":
            continue
        df, gold, _ = crowd_data.load(name)
        accs = [accuracy(agg.DawidSkene(smoothing=s).fit_predict(df), gold) for s in SMOOTHING]
        print(f"{name} | " + " | ".join(f"{a:.4f}" for a in accs))
    print("\nset | ours: iterations, s | crowd-kit: iterations, s")
    for name in ("AdultContent2 (GAL)", "TREC RF10 relevance"):
        df, _, _ = crowd_data.load(name)
        t = time.perf_counter()
        ours = agg.DawidSkene().fit(df)
        t_ours = time.perf_counter() - t
        ck = df.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
        t = time.perf_counter()
        theirs = CkDawidSkene(n_iter=100).fit(ck)
        t_ck = time.perf_counter() - t
        print(f"{name} | {ours.n_iter_}, {t_ours:.2f} | {len(theirs.loss_history_)}, {t_ck:.2f}")
    df, _, _ = crowd_data.load("AdultContent2 (GAL)")
    ordinal = agg.OrdinalDawidSkene().fit(df)
    print(f"\nAdultContent2, ordinal model: mean near-miss share δ = {ordinal.near_miss_.mean():.3f}")


if __name__ == "__main__":
    main()
