"""Pairwise-agreement counting time on a synthetic per-ranker table (the estimate, one resample).

30,000 reply sets of 2-5 replies, three rankers each, each naming 2 to all of the set's replies
and tying its last two in a quarter of the rankings (90,000 rankings); prints the best of three
wall times and the counts, which equal those of any earlier version on the same table (run it
there with PYTHONPATH pointing at that tree).

    python benchmarks/bench_pairwise_agreement.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _timing import best

from oasst_quality import consensus as cs


def table(n_sets: int = 30_000, rankers: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_sets):  # building the input, not the timed code
        k = int(rng.integers(2, 6))
        for _ in range(rankers):
            named = [f"r{g}_{c}" for c in rng.permutation(k)[: int(rng.integers(2, k + 1))]]
            if rng.random() < 0.25:
                named = [*named[:-2], frozenset(named[-2:])]
            rows.append((g, tuple(named)))
    return pd.DataFrame(rows, columns=["group", "ranking"])


if __name__ == "__main__":
    t = table()
    for ties in (False, True):
        seconds, q = best(lambda ties=ties: cs.pairwise_agreement(t, ties=ties, n_resamples=1))
        convention = "counted" if ties else "left out"
        print(f"{len(t):,} rankings, ties {convention}: best {seconds:.3f} s; {q.estimate:.6f} of {q.n:,}")
