"""The ordinal model on crowds with constant annotators, with and without the class-proportion prior.

5-point scale, 100 items, 10 annotators, 3 ratings per item; 7 annotators err by -2..2 steps with
probabilities .1/.2/.4/.2/.1, 3 always give one fixed label. Prints, over 20 seeds, how often a
scale point collapsed (fitted proportion < 0.01) and the mean absolute error of each model.

    python benchmarks/ordinal_collapse.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oasst_quality import aggregation as agg


def crowd(seed: int, n: int = 100) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, n)
    const = dict(zip(rng.choice(10, 3, replace=False).tolist(), rng.integers(0, 5, 3).tolist()))
    rows = []
    for i in range(n):
        for a in rng.choice(10, 3, replace=False).tolist():
            step = rng.choice([-2, -1, 0, 1, 2], p=[0.1, 0.2, 0.4, 0.2, 0.1])
            rows.append((i, a, const[a] if a in const else int(np.clip(truth[i] + step, 0, 4))))
    return pd.DataFrame(rows, columns=["item", "annotator", "value"]), truth


def main() -> None:
    models = {
        "majority vote": agg.MajorityVote,
        "Dawid-Skene": agg.DawidSkene,
        "ordinal, class_smoothing=0": lambda: agg.OrdinalDawidSkene(class_smoothing=0),
        "ordinal, class_smoothing=10 (default)": agg.OrdinalDawidSkene,
    }
    for name, make in models.items():
        mae, collapsed = [], 0
        for seed in range(20):
            df, truth = crowd(seed)
            model = make().fit(df)
            mae.append(np.abs(model.labels_.sort_index().to_numpy() - truth).mean())
            collapsed += bool(hasattr(model, "priors_") and (model.priors_.to_numpy() < 0.01).any())
        print(f"{name:40s} MAE {np.mean(mae):.3f}  collapsed in {collapsed}/20")


if __name__ == "__main__":
    main()
