"""Agreement on the real crowd sets with per-worker labels (the table in docs/agreement.md).

python benchmarks/crowd_agreement.py
"""

from __future__ import annotations

import time

import crowd_data

from oasst_quality import agreement as ag


def main() -> None:
    print("| set | level | items | annotators | ratings | alpha [95% CI] | Fleiss kappa | AC1 | % agreement |")
    print("|---|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for name in crowd_data.SETS:
        df, _, scale = crowd_data.load(name)
        r = ag.ratings(df)
        ci = ag.bootstrap(r, "alpha", level=scale, n_resamples=1000, seed=0)
        kappa = ag.fleiss_kappa(r) if scale != "interval" else float("nan")
        ac1 = ag.gwet_ac1(r) if scale != "interval" else float("nan")
        pa = ag.percent_agreement(r) if scale != "interval" else float("nan")
        print(
            f"| {name} | {scale} | {r.n_items:,} | {r.n_annotators:,} | {r.item.size:,} | "
            f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] | {kappa:.3f} | {ac1:.3f} | {pa:.3f} |"
        )
    print(f"\n({time.perf_counter() - t0:.1f} s for all sets, 1,000 item-bootstrap resamples each, seed 0)")


if __name__ == "__main__":
    main()
