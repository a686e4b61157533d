"""Aggregation on real crowd sets with gold truth, beside crowd-kit (the table in docs/aggregation.md).

For each set: accuracy against gold (and MAE for ordinal sets) of every method, with
crowd-kit's MajorityVote, DawidSkene and GLAD run in the same process; the fit time of our
Dawid-Skene against crowd-kit's (best of 3); and paired bootstrap intervals over the gold items
for the two differences the targets are about: our Dawid-Skene's accuracy minus crowd-kit's, and
(ordinal sets) the ordinal model's MAE minus our Dawid-Skene's.

    python benchmarks/bench_aggregation.py
"""

from __future__ import annotations

import warnings

import crowd_data
import numpy as np
import pandas as pd
from _timing import best
from crowdkit.aggregation import GLAD
from crowdkit.aggregation import DawidSkene as CkDawidSkene
from crowdkit.aggregation import MajorityVote as CkMajorityVote

from oasst_quality import aggregation as agg
from oasst_quality._util import percentile_interval

CATEGORICAL = {
    "MV": agg.MajorityVote,
    "DS": agg.DawidSkene,
    "MACE": agg.MACE,
    "OrdinalDS": agg.OrdinalDawidSkene,
}
CONTINUOUS = {"mean": agg.Mean, "median": agg.Median, "trimmed": agg.TrimmedMean, "zscore": agg.ZScoreMean}


def on_gold(pred: pd.Series, gold: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    g = gold.reindex(pred.index).dropna()
    return pred.reindex(g.index).to_numpy(dtype=float), g.to_numpy(dtype=float)


def score(pred: pd.Series, gold: pd.Series, scale: str) -> str:
    p, g = on_gold(pred, gold)
    if scale == "interval":
        return f"MAE {np.abs(p - g).mean():.2f}"
    acc = f"{(p == g).mean():.3f}"
    return acc if scale == "nominal" else f"{acc} / MAE {np.abs(p - g).mean():.3f}"


def paired(a: np.ndarray, b: np.ndarray, seed: int = 0) -> str:
    """Mean of a − b over gold items, with a 95 % paired bootstrap interval (2,000 resamples)."""
    d = a.astype(float) - b.astype(float)
    idx = np.random.default_rng(seed).integers(0, d.size, (2000, d.size))
    low, high, _ = percentile_interval(d[idx].mean(axis=1), 0.95)
    return f"{d.mean():+.3f} [{low:+.3f}, {high:+.3f}]"


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
        preds = {key: cls().fit_predict(df) for key, cls in CATEGORICAL.items()}
        row.update({key: score(pred, gold, scale) for key, pred in preds.items()})
        row["ck MV"] = score(CkMajorityVote().fit_predict(ck), gold, scale)
        t_ck, ck_ds = best(lambda ck=ck: CkDawidSkene(n_iter=100).fit_predict(ck), 3)
        row["ck DS"] = score(ck_ds, gold, scale)
        row["ck GLAD"] = score(GLAD().fit_predict(ck), gold, scale)
        t_ours, _ = best(lambda df=df: agg.DawidSkene().fit_predict(df), 3)
        row["DS s (ours / crowd-kit)"] = f"{t_ours:.3f} / {t_ck:.3f} ({t_ck / t_ours:.0f}x)"
        items = preds["DS"].index  # every method in the same item order for the paired differences
        (ds, g), (theirs, _) = on_gold(preds["DS"], gold), on_gold(ck_ds.reindex(items), gold)
        row["DS − ck DS, accuracy"] = paired(ds == g, theirs == g)
        if scale == "ordinal":
            ordinal, _ = on_gold(preds["OrdinalDS"].reindex(items), gold)
            row["OrdinalDS − DS, MAE"] = paired(np.abs(ordinal - g), np.abs(ds - g))
        rows.append(row)
        print(row, flush=True)
    print_tables(rows)


def print_tables(rows: list[dict]) -> None:
    """The categorical sets as one markdown table, the continuous ones as a line each."""
    table = pd.DataFrame([r for r in rows if r["scale"] != "interval"]).fillna("")
    print()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for _, r in table.iterrows():
        print("| " + " | ".join(str(v) for v in r) + " |")
    for r in rows:
        if r["scale"] == "interval":
            print(f"\n{r['set']}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("set", "scale")))


if __name__ == "__main__":
    main()
