"""Pairwise agreement by pair population on simulated rankers (seeded): all pairs, adjacent pairs
in the data's own reference order, and pairs by their gap in the true order.

3,000 reply sets of 4 replies with qualities drawn N(0, 1); 3 rankers per set rank by quality plus
N(0, 1) noise (Thurstone). Ties cannot occur, so both tie conventions agree.

    python benchmarks/sim_pair_population.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oasst_quality import consensus as cs


def simulate(n_sets: int = 3000, replies: int = 4, rankers: int = 3, noise: float = 1.0, seed: int = 0):
    """(rankings table, each reply's place in its set's true order)."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=(n_sets, replies))
    names = np.array([[f"{g}_{i}" for i in range(replies)] for g in range(n_sets)], dtype=object)
    scores = quality[:, None, :] + rng.normal(scale=noise, size=(n_sets, rankers, replies))
    order = np.argsort(-scores, axis=2)
    table = pd.DataFrame(
        {
            "group": np.repeat(np.arange(n_sets), rankers),
            "ranking": [
                tuple(names[g, o]) for g, o in zip(np.repeat(np.arange(n_sets), rankers), order.reshape(-1, replies))
            ],
        }
    )
    place = np.argsort(np.argsort(-quality, axis=1), axis=1)
    return table, dict(zip(names.ravel(), place.ravel()))


if __name__ == "__main__":
    table, place = simulate()
    for pairs in ("all", "adjacent"):
        e = cs.pairwise_agreement(table, pairs=pairs, n_resamples=200)
        print(
            f"{pairs:9s} {e.estimate:.3f} [{e.low:.3f}, {e.high:.3f}] n = {e.n:,}",
            e.details.get("n_tied_reference_pairs", ""),
        )
    v = cs.pair_votes(table)
    gap = np.abs(v["first"].map(place).to_numpy() - v["second"].map(place).to_numpy())
    a, b = v["first_above"].to_numpy(), v["second_above"].to_numpy()
    agree, total = (a * (a - 1) + b * (b - 1)) / 2, (a + b) * (a + b - 1) / 2
    for k in range(1, int(gap.max()) + 1):
        print(f"true gap {k}: {agree[gap == k].sum() / total[gap == k].sum():.3f}")
