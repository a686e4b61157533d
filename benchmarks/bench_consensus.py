"""Ranked-pairs benchmark against pref_voting's ``ranked_pairs_tb`` (same results, measured in one run).

Ours and pref_voting are timed alternately in the same process (one run of each per round), and
the ratio is taken per round, so a busy machine slows both sides alike (the garbage collector runs
before each timed call and is off during it, as in timeit); the table gives the median
ratio and the range over the rounds.

1. 10,000 profiles of 5 candidates x 3 strict ballots (OASST-like sibling groups): ours batched
   (``ranked_pairs_many``, from a levels array and from ballot lists) vs pref_voting per profile.
   Target (#24): at least 8x.
2. One profile of 30 candidates x 1,000 ballots.

    python benchmarks/bench_consensus.py [rounds]
"""

from __future__ import annotations

import sys

import numpy as np
from _timing import interleaved
from pref_voting.margin_based_methods import ranked_pairs_tb
from pref_voting.profiles import Profile

from oasst_quality import consensus as cs


def _row(workload: str, ratios: list[float], t_ours: list[float], t_anchor: list[float]) -> str:
    return (
        f"{workload} | {np.median(t_ours):.3f} | {np.median(t_anchor):.3f} | {np.median(ratios):.1f}x "
        f"({min(ratios):.1f}-{max(ratios):.1f}x over {len(ratios)} rounds)"
    )


def main(rounds: int = 5) -> None:
    rng = np.random.default_rng(0)
    perms = np.argsort(rng.random((10_000, 3, 5)), axis=2)  # ballots as candidate orders
    levels = np.argsort(perms, axis=2)  # level of each candidate on each ballot
    lists = [[list(b) for b in p] for p in perms.tolist()]
    profiles = [Profile(p) for p in lists]
    cs.ranked_pairs_many(levels)  # warm-up (imports, first allocations)
    print("workload | ours s (median) | pref_voting ranked_pairs_tb s (median) | ratio, median (range)")
    ratios, t_ours, t_pv, ours_arr, theirs = interleaved(
        lambda: cs.ranked_pairs_many(levels), lambda: [ranked_pairs_tb(p) for p in profiles], rounds
    )
    print(_row("10,000 x (5 cand x 3 ballots), levels array", ratios, t_ours, t_pv))
    ratios, t_ours, t_pv, ours_list, _ = interleaved(
        lambda: cs.ranked_pairs_many(lists), lambda: [ranked_pairs_tb(Profile(p)) for p in lists], rounds
    )
    print(_row("10,000 x (5 cand x 3 ballots), from ballot lists (pref_voting: + Profile())", ratios, t_ours, t_pv))
    assert [o[0] for o in ours_list] == [w[0] for w in theirs]
    assert (ours_arr[:, 0] == np.array([o[0] for o in ours_list])).all()
    big = [list(rng.permutation(30)) for _ in range(1000)]
    ratios, t_ours, t_pv, order, winner = interleaved(
        lambda: cs.ranked_pairs(big), lambda: ranked_pairs_tb(Profile(big)), rounds
    )
    assert winner == [order[0]]
    print(_row("1 x (30 cand x 1,000 ballots), full order vs winner (pref_voting: + Profile())", ratios, t_ours, t_pv))
    print("winners identical in every election")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
