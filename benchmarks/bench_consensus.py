"""Ranked-pairs benchmark against pref_voting's ``ranked_pairs_tb`` (same results, measured in one run).

1. 10,000 profiles of 5 candidates x 3 strict ballots (OASST-like sibling groups): ours batched
   (``ranked_pairs_many``, from ballot lists and from a levels array) vs pref_voting per profile.
   Target: at most 0.2 s, at least 8x faster.
2. One profile of 30 candidates x 1,000 ballots.

    python benchmarks/bench_consensus.py
"""

from __future__ import annotations

import numpy as np
from _timing import best
from pref_voting.margin_based_methods import ranked_pairs_tb
from pref_voting.profiles import Profile

from oasst_quality import consensus as cs


def main() -> None:
    rng = np.random.default_rng(0)
    perms = np.argsort(rng.random((10_000, 3, 5)), axis=2)  # ballots as candidate orders
    levels = np.argsort(perms, axis=2)  # level of each candidate on each ballot
    lists = [[list(b) for b in p] for p in perms.tolist()]
    t_arr, ours_arr = best(lambda: cs.ranked_pairs_many(levels))
    t_list, ours_list = best(lambda: cs.ranked_pairs_many(lists))
    t_build, profiles = best(lambda: [Profile(p) for p in lists], 1)
    t_pv, theirs = best(lambda: [ranked_pairs_tb(p) for p in profiles], 1)
    assert [o[0] for o in ours_list] == [w[0] for w in theirs]
    assert (ours_arr[:, 0] == np.array([o[0] for o in ours_list])).all()
    print("workload | ours s | pref_voting ranked_pairs_tb s | ratio")
    print(f"10,000 x (5 cand x 3 ballots), levels array | {t_arr:.3f} | {t_pv:.2f} | {t_pv / t_arr:.0f}x")
    t_pv_lists = t_pv + t_build
    print(
        f"10,000 x (5 cand x 3 ballots), from ballot lists (pref_voting: + Profile()) | {t_list:.3f} | "
        f"{t_pv_lists:.2f} | {t_pv_lists / t_list:.0f}x"
    )
    big = [list(rng.permutation(30)) for _ in range(1000)]
    t_ours, order = best(lambda: cs.ranked_pairs(big))
    t_build, prof = best(lambda: Profile(big), 1)
    t_pv, winner = best(lambda: ranked_pairs_tb(prof), 1)
    assert winner == [order[0]]
    print(
        f"1 x (30 cand x 1,000 ballots), full order vs winner only | {t_ours:.3f} | {t_pv:.3f} "
        f"(+ Profile() {t_build:.3f}) | {(t_pv + t_build) / t_ours:.1f}x end to end"
    )
    print("winners identical in every election")


if __name__ == "__main__":
    main()
