import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from pref_voting.margin_based_methods import ranked_pairs as pv_ranked_pairs
from pref_voting.margin_based_methods import ranked_pairs_tb
from pref_voting.profiles import Profile
from pref_voting.profiles_with_ties import ProfileWithTies
from scipy import stats

import oasst_quality as oq
from oasst_quality import adapter
from oasst_quality import consensus as cs
from oasst_quality import testing as qt
from oasst_quality.errors import NotComputableError, UsageError
from oasst_quality.estimate import interval_text

# --------------------------------------------------------------------------- worked examples

TENNESSEE = (
    [["Memphis", "Nashville", "Chattanooga", "Knoxville"]] * 42
    + [["Nashville", "Chattanooga", "Knoxville", "Memphis"]] * 26
    + [["Chattanooga", "Knoxville", "Nashville", "Memphis"]] * 15
    + [["Knoxville", "Chattanooga", "Nashville", "Memphis"]] * 17
)
OASST_DOCSTRING = [list("wxzy")] * 3 + [list("wyxz")] * 2 + [list("xyzw")] * 4 + [list("xzwy")] * 5 + [list("ywxz")] * 1


def test_tennessee():
    assert cs.ranked_pairs(TENNESSEE) == ["Nashville", "Chattanooga", "Knoxville", "Memphis"]
    # Borda by hand: Nashville 194, Chattanooga 173, Memphis 126, Knoxville 107
    assert cs.borda(TENNESSEE) == ["Nashville", "Chattanooga", "Memphis", "Knoxville"]
    for method in ("schulze", "copeland", "kemeny_young"):
        assert cs.consensus(TENNESSEE, method)[0] == "Nashville"


def test_oasst_backend_docstring_profile():
    assert cs.ranked_pairs(OASST_DOCSTRING, tie_break="oasst") == ["x", "z", "w", "y"]


def test_three_ballot_cycle_oasst_mode():
    assert cs.ranked_pairs([list("abc"), list("bca"), list("cab")], tie_break="oasst") == ["a", "b", "c"]


def test_ties_truncation_and_absent_candidates():
    m = cs.margin_matrix([["a", {"b", "c"}], ["c"]], candidates=list("abcd"))
    # ballot 1: a > b = c > d ; ballot 2: c > a = b = d
    assert m.loc["a", "b"] == 1 and m.loc["b", "c"] == -1 and m.loc["c", "d"] == 2 and m.loc["a", "d"] == 1
    assert (m.to_numpy() == -m.to_numpy().T).all()
    assert cs.ranked_pairs([["a", {"b", "c"}], ["c"]], candidates=list("abcd")) == ["a", "c", "b", "d"]
    assert cs.ranked_pairs([], candidates=["x", "y"]) == ["x", "y"]


def test_tie_break_policies():
    cycle = [list("abc"), list("bca"), list("cab")]
    # T = c, b, a orders the three margin-1 pairs (c,a), (b,c), (a,b): lock c>a, b>c; skip a>b
    assert cs.ranked_pairs(cycle, tie_break=["c", "b", "a"]) == ["b", "c", "a"]
    assert cs.ranked_pairs(cycle, tie_break="random", seed=5) == cs.ranked_pairs(cycle, tie_break="random", seed=5)
    seen = {tuple(cs.ranked_pairs(cycle, tie_break="random", seed=s)) for s in range(20)}
    assert len(seen) == 3  # each candidate can win a symmetric cycle
    assert cs.ranked_pairs(cycle, tie_break="random") == cs.ranked_pairs(cycle, tie_break="random", seed=0)
    with pytest.raises(UsageError, match="every candidate"):
        cs.ranked_pairs(cycle, tie_break=["a", "b"])
    for bad in (5, "shuffle"):  # an integer is no longer a hidden seed
        with pytest.raises(UsageError, match="'random' \\(with seed=\\)"):
            cs.ranked_pairs(cycle, tie_break=bad)
        with pytest.raises(UsageError, match="'random' \\(with seed=\\)"):
            cs.ranked_pairs_many([cycle], tie_break=bad)


# profiles of 1-6 elections, each of 1-5 ballots naming 2-4 of six candidates (ties by omission)
profile_lists = st.lists(
    st.lists(st.permutations(list("abcdef")), min_size=1, max_size=5).flatmap(
        lambda ballots: st.integers(2, 4).map(lambda k: [b[:k] for b in ballots])
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(profile_lists, st.integers(0, 2**32 - 1))
def test_many_draws_the_same_random_order_as_one_election(profiles, seed):
    batched = cs.ranked_pairs_many(profiles, tie_break="random", seed=seed)
    for profile, got in zip(profiles, batched):
        assert got == cs.ranked_pairs(profile, tie_break="random", seed=seed)


# --------------------------------------------------------------------------- the OASST rule, reference


def oasst_reference(ballots):
    """The OASST backend's rule, written from its description (strict complete ballots)."""
    names = sorted(ballots[0])
    n = len(names)
    tallies = np.zeros((n, n))
    for ballot in ballots:
        for i, x in enumerate(ballot):
            for y in ballot[i + 1 :]:
                tallies[names.index(x), names.index(y)] += 1
    margins = tallies - tallies.T
    majorities = [(i, j, margins[i, j]) for i in range(n) for j in range(n) if i != j and margins[i, j] >= 0]
    majorities = sorted(majorities, key=lambda t: t[2], reverse=True)  # stable
    locked = []

    def reaches(a, b, edges):
        frontier, seen = [a], {a}
        while frontier:
            u = frontier.pop()
            for s, t in edges:
                if s == u and t not in seen:
                    if t == b:
                        return True
                    seen.add(t)
                    frontier.append(t)
        return False

    for i, j, _ in majorities:
        if not reaches(j, i, locked):
            locked.append((i, j))
    result, remaining = [], list(range(n))
    while remaining:
        source = next(c for c in remaining if not any(t == c and s in remaining for s, t in locked))
        result.append(names[source])
        remaining.remove(source)
    return result


def test_oasst_mode_equals_reference_on_10000_profiles():
    rng = np.random.default_rng(2023)
    profiles = []
    for _ in range(10_000):
        n = int(rng.integers(2, 6))
        k = int(rng.integers(1, 6))
        profiles.append([list(rng.permutation(list("abcde"[:n]))) for _ in range(k)])
    batched = cs.ranked_pairs_many(profiles, tie_break="oasst")
    for profile, got in zip(profiles, batched):
        assert got == oasst_reference(profile)
    for profile in profiles[:300]:
        assert cs.ranked_pairs(profile, tie_break="oasst") == oasst_reference(profile)


def test_many_array_form_with_padding():
    lv = np.array([[[0, 1, 2], [2, 0, 1], [1, 2, 0]], [[1, 0, 9], [1, 0, 9], [0, 1, 9]]])
    orders = cs.ranked_pairs_many(lv, n_candidates=np.array([3, 2]), weights=np.array([[1, 1, 1], [1, 1, 0]]))
    assert orders[0].tolist() == [0, 1, 2] and orders[1].tolist() == [1, 0, 2]


# --------------------------------------------------------------------------- pref_voting


@settings(max_examples=300)
@given(qt.profiles(max_candidates=6, max_ballots=9))
def test_winner_and_order_equal_pref_voting_tb(profile):
    ballots, candidates = profile
    idx = {c: i for i, c in enumerate(candidates)}
    prof = Profile([[idx[c] for c in b] for b in ballots])
    ours = cs.ranked_pairs(ballots, candidates=candidates)
    assert ranked_pairs_tb(prof) == [idx[ours[0]]]
    if len(candidates) <= 4:  # pref_voting's set-valued version is exponential in tied margins
        assert idx[ours[0]] in pv_ranked_pairs(prof)  # among the winners under some tie-break


@settings(max_examples=150)
@given(qt.profiles(max_candidates=5, ties=True, truncated=True))
def test_winner_equals_pref_voting_with_ties(profile):
    ballots, candidates = profile
    idx = {c: i for i, c in enumerate(candidates)}
    rankings = []
    for b in ballots:
        rankings.append({idx[c]: pos for pos, p in enumerate(b) for c in (p if isinstance(p, frozenset) else [p])})
    prof = ProfileWithTies(rankings, candidates=list(range(len(candidates))))
    prof.use_extended_strict_preference()  # unranked candidates below ranked ones
    ours = cs.ranked_pairs(ballots, candidates=candidates)
    assert ranked_pairs_tb(prof) == [idx[ours[0]]]


def _read_preflib(path: Path):
    ballots, weights, n = [], [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# NUMBER ALTERNATIVES:"):
            n = int(line.split(":")[1])
        if not line or line.startswith("#"):
            continue
        count, _, rest = line.partition(":")
        ballot, i = [], 0
        rest = rest.strip()
        while i < len(rest):
            if rest[i] == "{":
                j = rest.index("}", i)
                ballot.append(frozenset(int(x) for x in rest[i + 1 : j].split(",") if x))
                i = j + 2
            else:
                j = rest.find(",", i)
                j = len(rest) if j < 0 else j
                ballot.append(int(rest[i:j]))
                i = j + 1
        ballots.append(ballot)
        weights.append(int(count))
    return ballots, weights, list(range(1, n + 1))


def test_preflib_elections_against_pref_voting(shared):
    summary = pd.read_csv(shared / "preflib_elections" / "SUMMARY_computed.csv")
    condorcet = dict(zip(summary["file"], summary["condorcet_winner"]))
    files = sorted((shared / "preflib_elections").glob("*/*.[st]o[ci]"))
    assert len(files) > 200
    checked = 0
    for path in files:
        ballots, weights, cands = _read_preflib(path)
        if len(cands) > 16:
            continue
        ours = cs.ranked_pairs(ballots, candidates=cands, weights=weights)
        rankings = []
        for b in ballots:
            rankings.append({c: pos for pos, p in enumerate(b) for c in (p if isinstance(p, frozenset) else [p])})
        prof = ProfileWithTies(rankings, rcounts=weights, candidates=cands)
        prof.use_extended_strict_preference()
        assert ranked_pairs_tb(prof) == [ours[0]], path.name
        winner = condorcet.get(f"{path.parent.name}/{path.name}")
        if isinstance(winner, str) and winner.strip():
            assert ours[0] == int(winner.split(":")[0]), path.name  # Condorcet consistency
        checked += 1
    assert checked > 200


# --------------------------------------------------------------------------- axioms


RP = cs.ranked_pairs
for_all_axioms = [(name, check) for name, check in qt.AXIOMS.items()]


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(qt.profiles(max_candidates=5, max_ballots=7, ties=True, truncated=True))
@pytest.mark.parametrize("name,check", for_all_axioms)
def test_ranked_pairs_keeps_axioms(name, check, profile):
    check(RP, *profile)


# Checkers that need untied margins (or strict ballots), and the largest share of draws on which
# each may test nothing when profiles are drawn with distinct margins.
TIE_SENSITIVE = {
    (True, "neutrality"): 0.1,
    (True, "local_iia"): 0.4,
    (True, "monotonicity"): 0.8,
    (False, "neutrality"): 0.1,
    (False, "local_iia"): 0.3,
    (False, "monotonicity"): 0.6,
    (False, "independence_of_clones"): 0.1,
    (False, "reversal_symmetry"): 0.1,
}


@pytest.mark.parametrize("ties", [True, False])
def test_ranked_pairs_keeps_tie_sensitive_axioms_on_most_draws(ties):
    tally = qt.Tally()

    @settings(max_examples=80, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(qt.profiles(max_candidates=5, max_ballots=3, ties=ties, truncated=ties, distinct_margins=True))
    def run(profile):
        assert qt.has_distinct_margins(*profile)
        for t, name in TIE_SENSITIVE:
            if t == ties:
                tally.check(name, RP, *profile)

    run()
    shares = {name: tally.vacuous_share(name) for t, name in TIE_SENSITIVE if t == ties}
    assert all(shares[name] <= TIE_SENSITIVE[ties, name] for name in shares), shares


def test_uniform_profiles_with_ties_are_mostly_vacuous_for_neutrality():
    """Why distinct_margins exists: drawn uniformly, most tied profiles test nothing."""
    tally = qt.Tally()

    @settings(max_examples=80, database=None)
    @given(qt.profiles(max_candidates=5, max_ballots=7, ties=True, truncated=True))
    def run(profile):
        tally.check("neutrality", RP, *profile)

    run()
    assert tally.vacuous_share("neutrality") > 0.5


def test_clone_checker_names_clones_in_the_candidates_type():
    def by_number(ballots, candidates):
        return cs.ranked_pairs(ballots, candidates=candidates)

    ballots = [[1, 2, 3]] * 4 + [[2, 3, 1]] * 2 + [[3, 1, 2]]  # margins 3, 1, 5: no tie
    assert qt.check_independence_of_clones(by_number, ballots, [1, 2, 3]) is True
    assert qt._clone_of(3, [1, 2, 3]) == 4 and qt._clone_of("a", ["a", "a'"]) == "a''"


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(qt.profiles(max_candidates=5, max_ballots=7))
@pytest.mark.parametrize("method", ["schulze", "kemeny_young"])
@pytest.mark.parametrize("name", ["condorcet_winner", "condorcet_loser", "pareto", "anonymity", "neutrality"])
def test_condorcet_methods_keep_axioms(method, name, profile):
    qt.AXIOMS[name](getattr(cs, method), *profile)


def _finds_violation(method, axiom, **strategy):
    def violates(profile):
        try:
            qt.AXIOMS[axiom](method, *profile)
        except qt.AxiomViolation:
            return True
        return False

    return find(qt.profiles(**strategy), violates, settings=settings(max_examples=5000, database=None))


def test_checkers_find_known_counterexamples():
    ballots, candidates = _finds_violation(cs.borda, "condorcet_winner", max_candidates=4, max_ballots=7)
    m = cs.margin_matrix(ballots, candidates)
    borda_winner = cs.borda(ballots, candidates=candidates)[0]
    assert any((m.loc[c].drop(c) > 0).all() and c != borda_winner for c in candidates)
    # Borda is neither independent of clones (a clone adds points below its rivals) nor locally IIA
    _finds_violation(cs.borda, "independence_of_clones", max_candidates=4, max_ballots=7)
    _finds_violation(cs.borda, "local_iia", max_candidates=4, max_ballots=7)


# --------------------------------------------------------------------------- datasets and diagnostics


def test_rankings_and_pairs_from_sample():
    ds = oq.load_sample()
    rankings = adapter.rankings(ds)
    assert len(rankings) == 418  # sibling groups with >= 2 ranked replies
    pairs = cs.preference_pairs(rankings)
    assert len(pairs) == sum(len(r) * (len(r) - 1) // 2 for r in rankings["ranking"])
    rank = ds.messages.set_index("message_id")["rank"]
    assert (rank[pairs["chosen"]].to_numpy() < rank[pairs["rejected"]].to_numpy()).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", frozenset({"x", "y"})]), max_size=6, unique=True),
        max_size=6,
    )
)
def test_preference_pairs_are_every_ordered_pair_of_each_ranking_in_turn(orders):
    """Against the definition written as loops: each ranking's (i < j) position pairs, ranking by ranking."""
    table = pd.DataFrame({"group": [f"g{n}" for n in range(len(orders))], "ranking": [tuple(o) for o in orders]})
    rows = [
        (g, o[i], o[j], i, j)
        for g, o in zip(table["group"], table["ranking"])
        for i, j in itertools.combinations(range(len(o)), 2)
    ]
    expected = pd.DataFrame(rows, columns=["group", "chosen", "rejected", "rank_chosen", "rank_rejected"])
    pd.testing.assert_frame_equal(cs.preference_pairs(table), expected)
    assert cs.ranking_summary(table)["n_preference_pairs"] == len(expected)


def test_consensus_ranks_and_diagnostics():
    rows = []
    for g, profile in enumerate([OASST_DOCSTRING, [list("abc"), list("bca"), list("cab")], [list("ab"), list("ba")]]):
        rows += [(g, f"r{i}", tuple(b)) for i, b in enumerate(profile)]
    table = pd.DataFrame(rows, columns=["group", "annotator", "ranking"])
    merged = cs.consensus_ranks(table)
    assert merged["consensus"].tolist() == [tuple("xzwy"), tuple("abc"), tuple("ab")]
    d = cs.diagnostics(table, seeds=range(10))
    assert d["n_groups"] == 3
    assert d["condorcet_cycle_rate"] == pytest.approx(1 / 3)
    assert d["zero_margin_rate"] == pytest.approx(1 / 3)
    assert d["tie_break_sensitivity"] == pytest.approx(2 / 3)  # the cycle and the a/b tie depend on it
    r0 = d["rankers"].set_index("annotator")
    assert r0.loc["r0", "n_rankings"] == 3


def test_kendall_tau_of_identical_and_reversed():
    order = list("abcd")
    assert cs._kendall_tau(order, order) == pytest.approx(1.0)
    assert cs._kendall_tau(order, order[::-1]) == pytest.approx(-1.0)
    assert np.isnan(cs._kendall_tau(order, ["a"])) and np.isnan(cs._kendall_tau(order, [set(order)]))


@given(st.integers(2, 7), st.integers(0, 10_000))
def test_kendall_tau_is_scipys_tau_b(n, seed):
    rng = np.random.default_rng(seed)
    reference = [f"c{i}" for i in rng.permutation(n)]
    level = rng.integers(0, n, n)  # the ballot: equal levels are tied positions
    ballot = [{f"c{i}" for i in np.flatnonzero(level == v)} for v in np.unique(level)]
    expected = stats.kendalltau(np.arange(n), [level[int(c[1:])] for c in reference], variant="b").statistic
    got = cs._kendall_tau(reference, ballot)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


@given(st.integers(2, 6), st.integers(0, 10_000))
def test_kemeny_young_is_optimal(n, seed):
    rng = np.random.default_rng(seed)
    cands = list("abcdef"[:n])
    ballots = [list(rng.permutation(cands)) for _ in range(5)]
    m = cs.margin_matrix(ballots, cands)
    best = cs.kemeny_young(ballots)

    def score(order):
        return sum(m.loc[x, y] for x, y in itertools.combinations(order, 2))

    assert score(best) == max(score(p) for p in itertools.permutations(cands))


def test_pairwise_agreement_by_hand_with_a_bootstrap_over_reply_sets():
    # set 1: pairs (x, y) and (x, z) agreed by all three rankers (3 ranker pairs each), (y, z) 2 against 1
    # (1 agreeing ranker pair, 2 disagreeing): 7 of 9; set 2: two rankers who agree on its one pair: 1 of 1
    table = pd.DataFrame(
        {
            "group": [1, 1, 1, 2, 2, 3],
            "annotator": list("abcabc"),
            "ranking": [tuple("xyz"), tuple("xzy"), tuple("xyz"), tuple("uv"), tuple("uv"), ("w",)],
        }
    )
    q = cs.pairwise_agreement(table, n_resamples=400, seed=1)
    assert q.estimate == pytest.approx(8 / 10)
    assert (q.details["n_sets"], q.n) == (2, 10)
    # resampling two sets: the interval runs between their own rates, 7/9 and 1
    assert 7 / 9 - 1e-12 <= q.low <= q.estimate <= q.high <= 1
    assert q == cs.pairwise_agreement(table, n_resamples=400, seed=1)
    with pytest.raises(NotComputableError):
        cs.pairwise_agreement(table[table["group"] == 3])


def _fastchat_human_human(table: pd.DataFrame, ties: bool) -> tuple[int, int]:
    """A direct transcription of FastChat's human-human count: per comparison (a pair of replies of a
    set), every pair of votes; a vote is 'first', 'second' or 'tie'; ``ban`` drops ties when not counted."""
    votes: dict = {}
    for g, ballot in zip(table["group"], table["ranking"]):
        level = {}
        for pos, p in enumerate(ballot):
            for c in p if isinstance(p, frozenset) else (p,):
                level[c] = pos
        names = sorted(level, key=str)
        for i, x in enumerate(names):
            for y in names[i + 1 :]:
                v = "tie" if level[x] == level[y] else ("first" if level[x] < level[y] else "second")
                votes.setdefault((g, x, y), []).append(v)
    agree = total = 0
    for vs in votes.values():
        for i in range(len(vs) - 1):
            for j in range(i + 1, len(vs)):
                if not ties and "tie" in (vs[i], vs[j]):
                    continue
                total += 1
                agree += vs[i] == vs[j]
    return agree, total


def test_pairwise_agreement_leaves_unranked_replies_out_and_counts_ties_as_fastchat():
    # b did not see z: (x, y) 1 agreeing pair of 3, (x, z) and (y, z) 1 of 1 each: 3 / 5 (ranking z last gave 7 / 9)
    table = pd.DataFrame({"group": 1, "annotator": list("abc"), "ranking": [tuple("xyz"), tuple("xy"), tuple("yxz")]})
    assert cs.pairwise_agreement(table, n_resamples=10).estimate == pytest.approx(3 / 5)
    # ties: a ties y and z; with ties (y, z) is a tie against an order (disagree), without it is left out
    tied = pd.DataFrame({"group": 1, "annotator": list("ab"), "ranking": [("x", frozenset("yz")), tuple("xyz")]})
    with_ties = cs.pairwise_agreement(tied, ties=True, n_resamples=10)
    without = cs.pairwise_agreement(tied, ties=False, n_resamples=10)
    assert (with_ties.estimate, with_ties.n) == (pytest.approx(2 / 3), 3)
    assert (without.estimate, without.n) == (1.0, 2)
    assert with_ties.details["ties"] == "counted" and "all pairs" in with_ties.details["pair_population"]


def test_pairwise_agreement_is_not_computable_without_a_shared_pair():
    disjoint = pd.DataFrame({"group": 1, "annotator": list("ab"), "ranking": [tuple("xy"), tuple("zw")]})
    with pytest.raises(NotComputableError):
        cs.pairwise_agreement(disjoint)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.permutations(list("abcde")), st.integers(1, 5), st.booleans()),
        min_size=2,
        max_size=14,
    ),
    st.booleans(),
)
def test_pairwise_agreement_equals_a_direct_fastchat_count(rows, ties):
    ballots = []
    for g, perm, k, tie in rows:
        named = list(perm[:k])
        if tie and k >= 3:  # tie the last two named replies
            ballot = (*named[:-2], frozenset(named[-2:]))
        else:
            ballot = tuple(named)
        ballots.append((g, ballot))
    table = pd.DataFrame(ballots, columns=["group", "ranking"]).assign(annotator="r")
    agree, total = _fastchat_human_human(table, ties)
    if total == 0:
        with pytest.raises(NotComputableError):
            cs.pairwise_agreement(table, ties=ties, n_resamples=5)
    else:
        q = cs.pairwise_agreement(table, ties=ties, n_resamples=5)
        assert q.n == total and q.estimate == pytest.approx(agree / total)


# --------------------------------------------------------------------------- batched fast paths vs the definition


def rp_definition(lv, weights, tb_pos):
    """Ranked pairs from its definition in plain Python, on levels (ballots x candidates): margins
    by counting, pairs with margin >= 0 by decreasing margin then T-position of x then of y, each
    locked unless it closes a cycle, then the first source in T order, repeatedly."""
    n = lv.shape[1]
    m = [
        [sum(w * ((b[x] < b[y]) - (b[x] > b[y])) for b, w in zip(lv.tolist(), weights)) for y in range(n)]
        for x in range(n)
    ]
    pairs = sorted(
        ((x, y) for x in range(n) for y in range(n) if x != y and m[x][y] >= 0),
        key=lambda p: (-m[p[0]][p[1]], tb_pos[p[0]], tb_pos[p[1]]),
    )
    below = [set() for _ in range(n)]  # below[a]: the candidates a is locked above
    for x, y in pairs:
        if x in below[y]:
            continue
        gain = below[y] | {y}
        for a in range(n):
            if a == x or x in below[a]:
                below[a] |= gain
    order, left = [], sorted(range(n), key=lambda c: tb_pos[c])
    while left:
        pick = next(c for c in left if not any(c in below[a] for a in left))
        order.append(pick)
        left.remove(pick)
    return order


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(qt.profiles(max_candidates=6, max_ballots=5, ties=True, truncated=True), min_size=1, max_size=8),
    st.sampled_from(["oasst", "random"]),
    st.integers(0, 2**32 - 1),
)
def test_many_equals_the_definition_in_list_and_array_form(drawn, tie_break, seed):
    profiles = [ballots for ballots, _ in drawn]
    got = cs.ranked_pairs_many(profiles, tie_break=tie_break, seed=seed)
    E, B, C = len(drawn), max(len(b) for b, _ in drawn), max(len(c) for _, c in drawn)
    lv = np.full((E, B, C), 99)
    weights = np.zeros((E, B), dtype=int)
    for e, (ballots, candidates) in enumerate(drawn):
        named = sorted({c for b in ballots for p in b for c in (p if isinstance(p, frozenset) else [p])})
        n = len(named)
        tb = cs._random_positions(seed, n) if tie_break == "random" else np.arange(n)
        expected = rp_definition(cs.levels(ballots, named), [1] * len(ballots), tb)
        assert got[e] == [named[i] for i in expected]
        lv[e, : len(ballots), : len(candidates)] = cs.levels(ballots, candidates)
        weights[e, : len(ballots)] = 1
    n_cands = np.array([len(c) for _, c in drawn])
    orders = cs.ranked_pairs_many(lv, weights=weights, n_candidates=n_cands, tie_break=tie_break, seed=seed)
    for e, (ballots, candidates) in enumerate(drawn):
        n = len(candidates)
        tb = cs._random_positions(seed, n) if tie_break == "random" else np.arange(n)
        assert orders[e].tolist() == rp_definition(cs.levels(ballots, candidates), [1] * len(ballots), tb) + list(
            range(n, C)
        )  # padding last, in index order


def test_many_equals_the_definition_beyond_64_candidates():
    rng = np.random.default_rng(7)
    lv = np.stack([np.minimum(np.argsort(rng.random((5, 70)), axis=1), 60) for _ in range(3)])  # ties at the bottom
    for tie_break in ("oasst", "random"):
        tb = cs._random_positions(3, 70) if tie_break == "random" else np.arange(70)
        orders = cs.ranked_pairs_many(lv, tie_break=tie_break, seed=3)
        for e in range(3):
            assert orders[e].tolist() == rp_definition(lv[e], [1] * 5, tb)


def test_pairwise_agreement_on_one_reply_set_has_no_interval():
    # one reply set: every resample is that set again, so the data cannot give an interval
    orders = [("x", "y", "z"), ("x", "z", "y"), ("y", "x", "z")]
    rankings = pd.DataFrame({"group": ["g"] * 3, "annotator": ["a", "b", "c"], "ranking": orders})
    q = cs.pairwise_agreement(rankings, n_resamples=200)
    assert q.details["n_sets"] == 1 and (q.low, q.high) == (None, None)
    assert q.details["no_interval"] == "one reply set"
    assert interval_text(q) == "no interval: one reply set"
    # two sets that agree alike: every resample gives the same share, so no interval either
    two = pd.concat([rankings, rankings.assign(group="h")])
    q2 = cs.pairwise_agreement(two, n_resamples=200)
    assert (q2.low, q2.high) == (None, None) and "same value" in q2.details["no_interval"]


def test_a_ranking_without_a_group_is_in_no_reply_set():
    grouped = pd.DataFrame(
        {"group": ["g1", "g1", "g2", "g2"], "ranking": [["a", "b"], ["a", "b"], ["c", "d"], ["d", "c"]]}
    )
    lost = pd.DataFrame({"group": [None, None], "ranking": [["x", "y"], ["y", "x"]]})
    rankings = pd.concat([grouped.iloc[:2], lost, grouped.iloc[2:]], ignore_index=True)
    for pairs in cs.PAIRS:
        pd.testing.assert_frame_equal(cs.pair_votes(rankings, pairs=pairs), cs.pair_votes(grouped, pairs=pairs))
        assert cs.pairwise_agreement(rankings, pairs=pairs) == cs.pairwise_agreement(grouped, pairs=pairs)
    assert cs.consensus_ranks(rankings)["group"].tolist() == ["g1", "g2"]


def test_adjacent_pairs_by_hand():
    # set 1, three rankers: x above y 3-0, x above z 3-0, y above z 2-1. Net margins: x +6, y -2,
    # z -4: the reference order is x, y, z; adjacent pairs (x, y) with 3 agreeing ranker pairs of 3
    # and (y, z) with 1 of 3; (x, z) is not adjacent. Set 2: (u, v) 1 of 1. Adjacent: 5 / 7; all: 8 / 10.
    table = pd.DataFrame(
        {
            "group": [1, 1, 1, 2, 2],
            "annotator": list("abcab"),
            "ranking": [tuple("xyz"), tuple("xzy"), tuple("xyz"), tuple("uv"), tuple("uv")],
        }
    )
    adjacent = cs.pairwise_agreement(table, pairs="adjacent", n_resamples=50)
    assert (adjacent.estimate, adjacent.n) == (pytest.approx(5 / 7), 7)
    assert adjacent.details["pairs"] == "adjacent" and adjacent.details["n_tied_reference_pairs"] == 0
    assert cs.pairwise_agreement(table, pairs="all", n_resamples=50).estimate == pytest.approx(8 / 10)
    votes = cs.pair_votes(table)
    assert votes[["first", "second", "first_above", "second_above", "tied", "adjacent"]].values.tolist() == [
        ["x", "y", 3, 0, 0, True],
        ["x", "z", 3, 0, 0, False],
        ["y", "z", 2, 1, 0, True],
        ["u", "v", 2, 0, 0, True],
    ]
    with pytest.raises(UsageError):
        cs.pairwise_agreement(table, pairs="farthest")


def test_adjacent_pairs_leave_pairs_tied_in_the_reference_out_and_do_not_depend_on_ids():
    # a cycle: x > y, y > z, z > x (2 rankers to 1 each) and a fourth reply w below all. Net margins:
    # x, y, z +3 each (+1 and -1 in the cycle, +3 over w), w -9: tiers {x, y, z}, {w}. The pairs of the
    # cycle are tied in the reference and left out; adjacent are (x, w), (y, w), (z, w)
    table = pd.DataFrame(
        {"group": 1, "annotator": list("abc"), "ranking": [tuple("xyzw"), tuple("yzxw"), tuple("zxyw")]}
    )
    votes = cs.pair_votes(table, pairs="adjacent")
    assert sorted(map(sorted, zip(votes["first"], votes["second"]))) == [["w", "x"], ["w", "y"], ["w", "z"]]
    q = cs.pairwise_agreement(table, pairs="adjacent", n_resamples=20)
    assert (q.estimate, q.n, q.details["n_tied_reference_pairs"]) == (1.0, 9, 3)
    # renaming the replies so that their ids sort otherwise changes nothing
    rename = {"x": "9", "y": "1", "z": "5", "w": "0"}
    renamed = table.assign(ranking=[tuple(rename[c] for c in r) for r in table["ranking"]])
    again = cs.pairwise_agreement(renamed, pairs="adjacent", n_resamples=20)
    assert (again.estimate, again.n) == (q.estimate, q.n)


def _slow_counts(table: pd.DataFrame, ties: bool, pairs: str) -> dict:
    """Per reply set, (agreeing, all) pairs of votes by plain loops: votes per pair of replies,
    the reference order by net margin (sum over the set's pairs of wins minus losses), adjacent =
    neighbouring distinct margins."""
    out = {}
    for g, sub in table.groupby("group", sort=False):
        votes: dict = {}
        for ballot in sub["ranking"]:
            level = {c: pos for pos, p in enumerate(ballot) for c in (p if isinstance(p, frozenset) else (p,))}
            for x, y in itertools.combinations(sorted(level, key=str), 2):
                votes.setdefault((x, y), []).append(np.sign(level[y] - level[x]))
        net: dict = {}
        for (x, y), vs in votes.items():
            net[x] = net.get(x, 0) + sum(vs)
            net[y] = net.get(y, 0) - sum(vs)
        distinct = sorted(set(net.values()))
        agree = total = 0
        for (x, y), vs in votes.items():
            if pairs == "adjacent" and abs(distinct.index(net[x]) - distinct.index(net[y])) != 1:
                continue
            for u, w in itertools.combinations(vs, 2):
                if not ties and 0 in (u, w):
                    continue
                total += 1
                agree += u == w
        out[g] = (agree, total)
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.permutations(list("abcdef")), st.integers(1, 6), st.integers(0, 2)),
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
    st.sampled_from(["all", "adjacent"]),
)
def test_vectorised_counts_equal_a_slow_count(rows, ties, pairs):
    ballots = []
    for g, perm, k, tie in rows:
        named = list(perm[:k])
        if tie and k >= 2:  # tie two neighbouring named replies
            at = tie % (k - 1)
            named = [*named[:at], frozenset(named[at : at + 2]), *named[at + 2 :]]
        ballots.append((g, tuple(named)))
    table = pd.DataFrame(ballots, columns=["group", "ranking"])
    agree, total = cs._agreement_counts(cs._pair_votes(table, "group", "ranking"), ties, pairs)
    slow = _slow_counts(table, ties, pairs)
    assert list(zip(agree, total)) == [slow[g] for g in pd.unique(table["group"])]
    # renaming the replies so that their ids sort in the reverse order changes no count
    rename = dict(zip("abcdef", "zyxwvu"))
    renamed = table.assign(
        ranking=[
            tuple(frozenset(rename[c] for c in p) if isinstance(p, frozenset) else rename[p] for p in r)
            for r in table["ranking"]
        ]
    )
    again = cs._agreement_counts(cs._pair_votes(renamed, "group", "ranking"), ties, pairs)
    assert (again[0] == agree).all() and (again[1] == total).all()


def _agreement_metrics(largest_set: int, high: float | None) -> dict:
    """The annotators section as the report's findings read it: the two pairwise agreements."""

    def estimate(value, ties):
        return {
            "estimate": value,
            "low": None if high is None else value - 0.1,
            "high": high,
            "confidence": 0.95,
            "n": 120,
            "n_sets": 40,
            "ties": ties,
            "pairs": "all",
            "largest_set": largest_set,
            **({"no_interval": "one reply set"} if high is None else {}),
        }

    rankings = {
        "pairwise_agreement": estimate(0.7, "left out"),
        "pairwise_agreement_with_ties": estimate(0.5, "counted"),
    }
    return {"annotators": {"suspects": [], "summary": {"n_annotators": 3}, "rankings": rankings}}


def test_the_report_compares_with_a_band_only_under_the_same_convention():
    from oasst_quality.report import prose

    # every set has two replies: each ranking is a single pairwise judgment, MT-Bench's population
    (single,) = prose.annotators_findings(_agreement_metrics(2, 0.75))
    assert "the same convention (single pairwise judgments, ties left out): 81%" in single["text"]
    assert "the same convention (single pairwise judgments, ties counted): 63%" in single["text"]
    assert single["severity"] == "medium"  # 0.75 at most, below 81 %
    # rankings of up to four replies, all pairs: no band has that population, none is compared
    (pooled,) = prose.annotators_findings(_agreement_metrics(4, 0.9))
    assert (
        "no published band uses this pair population" in pooled["text"]
        and "all pairs of each ranking" in pooled["text"]
    )
    assert "same convention" not in pooled["text"] and pooled["severity"] == "info"
    # no interval: said so, never a zero-width one
    (flat,) = prose.annotators_findings(_agreement_metrics(2, None))
    assert "no interval: one reply set" in flat["text"] and flat["severity"] == "info"


_TIED_PAIR_VOTES = """
import pandas as pd
from oasst_quality import consensus
rows = [{"group": f"g{g}", "ranking": (f"{g}a", frozenset({f"{g}b", f"{g}c", f"{g}d"}), f"{g}e")} for g in range(50)]
print(consensus.pair_votes(pd.DataFrame(rows)).to_csv(index=False))
"""


def test_pair_votes_on_tied_ballots_do_not_depend_on_the_hash_seed():
    import os
    import subprocess
    import sys

    def run(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        return subprocess.run(
            [sys.executable, "-c", _TIED_PAIR_VOTES], env=env, capture_output=True, text=True, check=True
        ).stdout

    outputs = {run(seed) for seed in ("1", "2", "3", "4")}
    assert len(outputs) == 1
    assert "0b,0c" in next(iter(outputs))  # a tie's members by their text: b before c before d


def test_resampled_sums_draw_in_blocks_as_one_multinomial_call(monkeypatch):
    """The bootstrap's blocks of resamples are the rows of one ``rng.multinomial`` call: the same sums."""
    rng = np.random.default_rng(3)
    columns = {False: rng.integers(0, 9, (40, 2)).astype(float), True: rng.integers(0, 9, (40, 2)).astype(float)}
    columns[True][:, 1] += columns[True][:, 0]
    monkeypatch.setattr(cs, "_DRAWN_AT_ONCE", 7 * 40)  # blocks of 7 resamples, the last one of 3
    got = cs._resampled_sums(columns, 52, 11)
    f = np.random.default_rng(11).multinomial(40, np.full(40, 1 / 40), size=52).astype(float)
    for key, x in columns.items():
        np.testing.assert_array_equal(got[key], f @ x)


def test_ballot_rows_lay_out_ballots_of_text_ids_as_the_explodes_do():
    ballots = pd.Series([("b", "a", "c"), ("c",), (), ["a", "d"], ("d", "b")], dtype=object)
    as_arrays = pd.Series([np.array(b, dtype=object) for b in ballots], dtype=object)  # not tuples: the explodes
    for got, want in zip(cs.ballot_rows(ballots), cs.ballot_rows(as_arrays)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    row, cand, level = cs.ballot_rows(ballots)
    assert row.tolist() == [0, 0, 0, 1, 3, 3, 4, 4] and level.tolist() == [0, 1, 2, 0, 0, 1, 0, 1]
    assert cand.tolist() == ["b", "a", "c", "c", "a", "d", "d", "b"]
