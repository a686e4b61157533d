"""Agreement benchmark: Krippendorff's alpha against the `krippendorff` package, and bootstrap speed.

Workloads (measured in the same run, best of 3):
1. 200 annotators x 100,000 items x 3 ratings each, all four levels: ours (long table) vs the
   package on the dense reliability matrix it needs; values must be identical.
2. OASST scale, 13,500 annotators x 161,443 items, 461,292 ratings: the dense matrix would hold
   2.2 billion cells, so the package runs on its value-counts form (items x values) instead.
3. 1,000 item-bootstrap resamples of interval alpha at 300,000 ratings (target: under 10 s).

    python benchmarks/bench_agreement.py
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
from _timing import best

from oasst_quality import agreement as ag

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def synthetic(n_annotators, n_items, per_item, n_ratings=None, seed=0):
    """Likert-like ratings (1..5) around a latent item score, `per_item` annotators per item."""
    rng = np.random.default_rng(seed)
    items = np.repeat(np.arange(n_items), per_item)
    if n_ratings is not None:
        items = items[:n_ratings]
    ann = rng.integers(0, n_annotators, items.size)
    latent = rng.normal(3, 1, n_items)
    values = np.clip(np.round(latent[items] + rng.normal(0, 0.8, items.size)), 1, 5)
    return pd.DataFrame({"item": items, "annotator": ann, "value": values})


def main() -> None:
    print("workload | level | ours s | krippendorff s | ratio | |difference|")
    df = synthetic(200, 100_000, 3)
    # the package takes one value per (annotator, item): drop the few repeated draws for both sides
    df = df.drop_duplicates(["item", "annotator"])
    dense = np.full((200, 100_000), np.nan)
    dense[df["annotator"], df["item"]] = df["value"]
    for level in LEVELS:
        t_ours, a = best(lambda lv=level: ag.krippendorff_alpha(df, lv))
        t_pkg, b = best(lambda lv=level: krippendorff.alpha(reliability_data=dense, level_of_measurement=lv), 1)
        print(f"200 x 100k x 3 | {level} | {t_ours:.3f} | {t_pkg:.3f} | {t_pkg / t_ours:.1f}x | {abs(a - b):.1e}")

    oasst = synthetic(13_500, 161_443, 3, n_ratings=461_292, seed=1)
    counts = ag.ratings(oasst).counts.toarray()
    for level in LEVELS:
        t_ours, a = best(lambda lv=level: ag.krippendorff_alpha(oasst, lv))
        t_pkg, b = best(
            lambda lv=level: krippendorff.alpha(
                value_counts=counts, value_domain=[1, 2, 3, 4, 5], level_of_measurement=lv
            ),
            1,
        )
        print(
            f"OASST scale 461k (package on value counts) | {level} | {t_ours:.3f} | {t_pkg:.3f} | "
            f"{t_pkg / t_ours:.1f}x | {abs(a - b):.1e}"
        )

    boot = synthetic(20_000, 100_000, 3, seed=2)
    t, ci = best(lambda: ag.bootstrap(boot, "alpha", level="interval", n_resamples=1000, seed=0), 1)
    print(
        f"bootstrap: 1000 resamples at {len(boot):,} ratings: {t:.2f} s (target < 10 s); "
        f"alpha {ci.estimate:.4f} [{ci.low:.4f}, {ci.high:.4f}]"
    )


if __name__ == "__main__":
    main()
