"""Aggregation on real crowd sets with gold truth, beside crowd-kit (the table in docs/aggregation.md).

For each set: accuracy against gold (and MAE for ordinal sets) of every method, with
crowd-kit's MajorityVote, DawidSkene and GLAD run in the same process; and the fit time of our
Dawid-Skene against crowd-kit's (best of 3).

    python benchmarks/bench_aggregation.py
"""

from __future__ import annotations

import time
import warnings

import crowd_data
import numpy as np
import pandas as pd
from crowdkit.aggregation import GLAD
from crowdkit.aggregation import DawidSkene as CkDawidSkene
from crowdkit.aggregation import MajorityVote as CkMajorityVote

from oasst_quality import aggregation as agg

CATEGORICAL = {
    "MV": agg.MajorityVote,
    "DS": agg.DawidSkene,
    "MACE": agg.MACE,
    "OrdinalDS": agg.OrdinalDawidSkene,
}
CONTINUOUS = {"mean": agg.Mean, "median": agg.Median, "trimmed": agg.TrimmedMean, "zscore": agg.ZScoreMean}


def timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def score(pred: pd.Series, gold: pd.Series, scale: str) -> str:
    g = gold.reindex(pred.index).dropna()
    p = pred[g.index]
    if scale == "interval":
        return f"MAE {np.abs(p.astype(float) - g).mean():.2f}"
    acc = f"{(p == g).mean():.3f}"
    return acc if scale == "nominal" else f"{acc} / MAE {np.abs(p.astype(float) - g).mean():.3f}"


def main() -> None:
    warnings.filterwarnings("ignore")
    rows = []
    for name in crowd_data.SETS:
        df, gold, scale = crowd_data.load(name)
        ck = df.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
        row = {"set": name, "scale": scale}
        if scale == "interval":
            for key, cls in CONTINUOUS.items():
                row[key] = score(cls().fit_predict(df), gold, scale)
            rows.append(row)
            continue
        for key, cls in CATEGORICAL.items():
            row[key] = score(cls().fit_predict(df), gold, scale)
        row["ck MV"] = score(CkMajorityVote().fit_predict(ck), gold, scale)
        t_ck, ck_ds = timed(lambda ck=ck: CkDawidSkene(n_iter=100).fit_predict(ck), 3)
        row["ck DS"] = score(ck_ds, gold, scale)
        row["ck GLAD"] = score(GLAD().fit_predict(ck), gold, scale)
        t_ours, _ = timed(lambda df=df: agg.DawidSkene().fit_predict(df), 3)
        row["DS s (ours / crowd-kit)"] = f"{t_ours:.3f} / {t_ck:.3f} ({t_ck / t_ours:.0f}x)"
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows).fillna("")
    print()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for _, r in table.iterrows():
        print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
