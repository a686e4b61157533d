"""Our Dawid-Skene against crowd-kit's on every categorical gold set in ../shared/data (accuracy and fit time).

    python benchmarks/bench_ds_vs_crowdkit.py

Both with their defaults (crowd-kit: 100 iterations, tol 1e-5; ours: the same stopping rule, a
Dirichlet prior of 0.03 per confusion cell and 0.2 more on the correct label); time is the best of
three fits; ``iterations`` is how many EM steps ours ran. The sets are ``crowd_data.SETS`` (but the
continuous Emotion) and ActiveCrowd's MS, ZenCrowd_us and ZenCrowd_in.
"""

from __future__ import annotations

import warnings

import crowd_data
import pandas as pd
from _timing import best
from bench_verdicts import _extra_sets
from crowdkit.aggregation import DawidSkene as CkDawidSkene

from oasst_quality import aggregation as agg


def main() -> None:
    warnings.filterwarnings("ignore")
    rows = []
    for name, (reader, scale) in {**crowd_data.SETS, **_extra_sets()}.items():
        if scale == "interval":
            continue
        votes, gold = reader()
        gold = gold[gold.notna() & gold.index.isin(votes["item"])]  # the gold items someone voted on
        ck_frame = votes.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
        t_ck, ck = best(lambda f=ck_frame: CkDawidSkene(n_iter=100).fit_predict(f))
        model = agg.DawidSkene()
        t_ours, ours = best(lambda m=model, v=votes: m.fit_predict(v))

        def acc(pred: pd.Series, gold: pd.Series = gold) -> float:
            return float((pred.reindex(gold.index).to_numpy() == gold.to_numpy()).mean())

        rows.append(
            {
                "set": name,
                "gold_items": len(gold),
                "ours": acc(ours),
                "crowd-kit": acc(ck),
                "difference": acc(ours) - acc(ck),
                "ours_s": t_ours,
                "crowd-kit_s": t_ck,
                "iterations": model.n_iter_,
            }
        )
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
