"""Property-based test tools for consensus (preference aggregation) methods.

Hypothesis strategies that draw ranking profiles (complete, with ties, truncated), and axiom
checkers that anyone can point at their own consensus function. A *method* is any callable
``method(ballots, candidates=...) -> order`` (best first), like the functions in
:mod:`oasst_quality.consensus`. A checker raises :class:`AxiomViolation` (with the profile and
what went wrong) when the axiom fails on the given profile; otherwise it returns whether the
profile tested the axiom at all.

Several axioms only make sense for a resolute method when no tie-breaking is involved: those
checkers pass profiles that :func:`has_distinct_margins` rejects. Every checker returns True when
it tested the axiom and False when the profile said nothing about it (vacuous), so a test can
count: :class:`Tally` does, and ``profiles(distinct_margins=True)`` draws profiles whose margins
are rarely tied, so that the tie-sensitive checkers test most draws rather than a few.

    from hypothesis import given
    from oasst_quality import testing as qt

    tally = qt.Tally()

    @given(qt.profiles(max_candidates=5, distinct_margins=True))
    def test_neutrality(profile):
        tally.check("neutrality", my_method, *profile)

    # after the test: tally.vacuous_share("neutrality") says how many draws tested nothing

Needs hypothesis (``pip install "oasst_quality[testing]"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'oasst_quality.testing needs hypothesis: pip install "oasst_quality[testing]" (or hypothesis)'
    ) from exc

from .consensus import _margins_from_levels, levels

Method = Callable[..., list]
Profile = tuple[list, list]

__all__ = [
    "AXIOMS",
    "AxiomViolation",
    "Tally",
    "check_anonymity",
    "check_condorcet_loser",
    "check_condorcet_winner",
    "check_independence_of_clones",
    "check_local_iia",
    "check_monotonicity",
    "check_neutrality",
    "check_pareto",
    "check_reversal_symmetry",
    "has_distinct_margins",
    "profiles",
]


class AxiomViolation(AssertionError):
    """A method broke an axiom on a profile."""

    def __init__(self, axiom: str, ballots: list, candidates: list, detail: str) -> None:
        self.axiom, self.ballots, self.candidates, self.detail = axiom, ballots, candidates, detail
        super().__init__(f"{axiom} violated: {detail}\ncandidates={candidates}\nballots={ballots}")


# --------------------------------------------------------------------------- strategies


@st.composite
def _ballot(draw, candidates: list, ties: bool, truncated: bool) -> list:
    order = draw(st.permutations(candidates))
    if truncated:
        order = order[: draw(st.integers(1, len(order)))]
    if not ties:
        return list(order)
    cuts = sorted(draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=len(order) - 1)))
    groups = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if b > a]
    return [g[0] if len(g) == 1 else frozenset(g) for g in groups]


def profiles(
    *,
    min_candidates: int = 2,
    max_candidates: int = 5,
    min_ballots: int = 1,
    max_ballots: int = 9,
    ties: bool = False,
    truncated: bool = False,
    distinct_margins: bool = False,
) -> st.SearchStrategy[Profile]:
    """Draw ``(ballots, candidates)``: candidates ``"a", "b", ...``; ballots best first.

    ``ties=True`` lets positions hold frozensets of tied candidates; ``truncated=True`` lets
    ballots name only a prefix (the rest rank below, tied).

    ``distinct_margins=True`` draws the margins first, then a profile that has them: every pair
    gets a different even margin, built by McGarvey's (1953) construction (for x beating y by
    2k: k copies of both ``x, y, others`` and ``reversed(others), x, y``, which cancel on every
    other pair), plus ``min_ballots``-``max_ballots`` drawn ballots each beside its mirror image
    (which cancel too), so ties and truncation still appear. Drawn uniformly, most profiles with
    ties have a tied margin, and the checkers that need untied margins test almost nothing.
    """

    @st.composite
    def build(draw):
        n = draw(st.integers(min_candidates, max_candidates))
        candidates = [chr(ord("a") + i) for i in range(n)]
        ballots = draw(st.lists(_ballot(candidates, ties, truncated), min_size=min_ballots, max_size=max_ballots))
        if not distinct_margins:
            return ballots, candidates
        pairs = [(x, y) for i, x in enumerate(candidates) for y in candidates[i + 1 :]]
        sizes = draw(st.permutations(range(1, len(pairs) + 1)))
        out = []
        for (x, y), k in zip(pairs, sizes):
            if draw(st.booleans()):
                x, y = y, x
            others = [c for c in candidates if c not in (x, y)]
            out += [[x, y, *others], [*others[::-1], x, y]] * k
        for b in ballots:
            out += [b, _mirror(b, candidates)]
        return out, candidates

    return build()


def _mirror(ballot: list, candidates: list) -> list:
    """The ballot read bottom-up (its unranked rest, tied, goes on top): margins cancel with it."""
    named = {c for p in ballot for c in (p if isinstance(p, frozenset) else (p,))}
    rest = [c for c in candidates if c not in named]
    positions = [*ballot, (rest[0] if len(rest) == 1 else frozenset(rest))] if rest else list(ballot)
    return positions[::-1]


class Tally:
    """Counts, per axiom, the draws a checker tested and the draws that were vacuous."""

    def __init__(self) -> None:
        self.tested: Counter[str] = Counter()
        self.vacuous: Counter[str] = Counter()

    def check(self, axiom: str, method: Method, ballots: list, candidates: list) -> bool:
        """Run ``AXIOMS[axiom]`` and count the outcome; raises :class:`AxiomViolation` as the checker does."""
        tested = AXIOMS[axiom](method, ballots, candidates)
        (self.tested if tested else self.vacuous)[axiom] += 1
        return tested

    def vacuous_share(self, axiom: str) -> float:
        """Share of the draws on which ``axiom`` was not tested (NaN before any draw)."""
        total = self.tested[axiom] + self.vacuous[axiom]
        return self.vacuous[axiom] / total if total else float("nan")

    def summary(self) -> dict[str, dict[str, int]]:
        """{axiom: {"tested": n, "vacuous": n}} for every axiom checked."""
        names = sorted(set(self.tested) | set(self.vacuous))
        return {a: {"tested": self.tested[a], "vacuous": self.vacuous[a]} for a in names}


# --------------------------------------------------------------------------- helpers


def _margins(ballots: Sequence, candidates: list) -> np.ndarray:
    return _margins_from_levels(levels(ballots, candidates))


def has_distinct_margins(ballots: Sequence, candidates: list) -> bool:
    """True when every pairwise margin is nonzero and no two pairs share a margin size.

    Then ranked pairs, Schulze and Kemeny-Young need no tie-breaking.
    """
    m = _margins(ballots, candidates)
    upper = np.abs(m[np.triu_indices(len(candidates), 1)])
    return bool((upper > 0).all() and np.unique(upper).size == upper.size)


def _run(method: Method, ballots: Sequence, candidates: list) -> list:
    return list(method(ballots, candidates=candidates))


def _strict_above(ballot: Sequence, x: Any, y: Any, candidates: list) -> bool:
    lv = levels([ballot], candidates)[0]
    return lv[candidates.index(x)] < lv[candidates.index(y)]


# --------------------------------------------------------------------------- axioms


def check_condorcet_winner(method: Method, ballots: list, candidates: list) -> bool:
    """A candidate who beats every other by a strict majority must come first."""
    m = _margins(ballots, candidates)
    for i, c in enumerate(candidates):
        if all(m[i, j] > 0 for j in range(len(candidates)) if j != i):
            order = _run(method, ballots, candidates)
            if order[0] != c:
                raise AxiomViolation("Condorcet winner", ballots, candidates, f"{c} beats all but {order[0]} won")
            return True
    return False


def check_condorcet_loser(method: Method, ballots: list, candidates: list) -> bool:
    """A candidate who loses to every other by a strict majority must not come first."""
    m = _margins(ballots, candidates)
    for i, c in enumerate(candidates):
        if len(candidates) > 1 and all(m[i, j] < 0 for j in range(len(candidates)) if j != i):
            if _run(method, ballots, candidates)[0] == c:
                raise AxiomViolation("Condorcet loser", ballots, candidates, f"{c} loses to all but won")
            return True
    return False


def check_pareto(method: Method, ballots: list, candidates: list) -> bool:
    """If every ballot ranks x strictly above y, so does the result."""
    if not ballots:
        return False
    order = _run(method, ballots, candidates)
    pos = {c: i for i, c in enumerate(order)}
    tested = False
    for x in candidates:
        for y in candidates:
            if x != y and all(_strict_above(b, x, y, candidates) for b in ballots):
                tested = True
                if pos[x] > pos[y]:
                    raise AxiomViolation(
                        "Pareto", ballots, candidates, f"all prefer {x} to {y}, result ranks {y} higher"
                    )
    return tested


def check_anonymity(method: Method, ballots: list, candidates: list, *, seed: int = 0) -> bool:
    """The order of the ballots does not matter."""
    order = _run(method, ballots, candidates)
    shuffled = [ballots[i] for i in np.random.default_rng(seed).permutation(len(ballots))]
    for other in (shuffled, ballots[::-1]):
        if _run(method, other, candidates) != order:
            raise AxiomViolation("anonymity", ballots, candidates, "reordering the ballots changed the result")
    return len(ballots) > 1


def _rename(ballot: Sequence, mapping: dict) -> list:
    return [
        frozenset(mapping[c] for c in p) if isinstance(p, (set, frozenset, list, tuple)) else mapping[p] for p in ballot
    ]


def _without(ballot: Sequence, x: Any) -> list:
    out = []
    for p in ballot:
        if isinstance(p, (set, frozenset, list, tuple)):
            rest = frozenset(p) - {x}
            if rest:
                out.append(next(iter(rest)) if len(rest) == 1 else rest)
        elif p != x:
            out.append(p)
    return out


def _is_tie(position: Any) -> bool:
    return isinstance(position, (set, frozenset, list, tuple))


def check_neutrality(method: Method, ballots: list, candidates: list) -> bool:
    """Renaming the candidates renames the result (on profiles needing no tie-breaking)."""
    if not has_distinct_margins(ballots, candidates):
        return False
    mapping = dict(zip(candidates, candidates[::-1]))
    order = _run(method, ballots, candidates)
    renamed = _run(method, [_rename(b, mapping) for b in ballots], candidates)
    if renamed != [mapping[c] for c in order]:
        raise AxiomViolation("neutrality", ballots, candidates, f"{order} renamed is not {renamed}")
    return True


def check_monotonicity(method: Method, ballots: list, candidates: list) -> bool:
    """Raising the winner one place on a ballot keeps them the winner (strict ballots only)."""
    if not has_distinct_margins(ballots, candidates):
        return False
    winner = _run(method, ballots, candidates)[0]
    tested = False
    for b, ballot in enumerate(ballots):
        if any(_is_tie(p) for p in ballot) or winner not in ballot:
            continue
        i = ballot.index(winner)
        if i == 0:
            continue
        raised = list(ballot)
        raised[i - 1], raised[i] = raised[i], raised[i - 1]
        changed = [*ballots[:b], raised, *ballots[b + 1 :]]
        if has_distinct_margins(changed, candidates):
            tested = True
            if _run(method, changed, candidates)[0] != winner:
                raise AxiomViolation(
                    "monotonicity", ballots, candidates, f"raising {winner} on ballot {b} made it lose"
                )
    return tested


def _clone_of(x: Any, candidates: list) -> Any:
    """A new candidate of the candidates' own type: ``x'`` for strings, one past the largest number."""
    if isinstance(x, str):
        clone = f"{x}'"
        while clone in candidates:
            clone += "'"
        return clone
    if isinstance(x, (Integral, Real)) and not isinstance(x, bool):
        return type(x)(max(candidates) + 1)
    raise TypeError(f"cannot make a clone of a {type(x).__name__} candidate; use strings or numbers")


def check_independence_of_clones(method: Method, ballots: list, candidates: list) -> bool:
    """Adding a clone of a loser does not change the winner; a clone of the winner may only replace it.

    The clone is placed right below the original on every ballot (so no ballot separates them). It
    is a new candidate of the candidates' own type (see ``_clone_of``).
    """
    if not has_distinct_margins(ballots, candidates) or any(_is_tie(p) for b in ballots for p in b):
        return False
    winner = _run(method, ballots, candidates)[0]
    tested = False
    for x in candidates:
        if any(x not in b for b in ballots):
            continue  # truncated ballots that leave x out would tie it with its clone below
        clone = _clone_of(x, candidates)
        cloned = [[q for p in b for q in ((p, clone) if p == x else (p,))] for b in ballots]
        new = _run(method, cloned, [*candidates, clone])[0]
        tested = True
        allowed = {winner, clone} if x == winner else {winner}
        if new not in allowed:
            raise AxiomViolation("independence of clones", ballots, candidates, f"cloning {x} made {new} win")
    return tested


def check_local_iia(method: Method, ballots: list, candidates: list) -> bool:
    """Removing the first or the last candidate of the result leaves the others' order unchanged."""
    if len(candidates) < 3 or not has_distinct_margins(ballots, candidates):
        return False
    order = _run(method, ballots, candidates)
    for dropped in (order[0], order[-1]):
        rest = [c for c in candidates if c != dropped]
        reduced = [_without(b, dropped) for b in ballots]
        got = _run(method, reduced, rest)
        if got != [c for c in order if c != dropped]:
            raise AxiomViolation("local IIA", ballots, candidates, f"dropping {dropped} reordered the rest: {got}")
    return True


def check_reversal_symmetry(method: Method, ballots: list, candidates: list) -> bool:
    """Reversing every (complete, strict) ballot must not leave the winner first."""
    if (
        len(candidates) < 2
        or not has_distinct_margins(ballots, candidates)
        or any(len(b) != len(candidates) or _is_tie(p) for b in ballots for p in b)
    ):
        return False
    winner = _run(method, ballots, candidates)[0]
    if _run(method, [list(b)[::-1] for b in ballots], candidates)[0] == winner:
        raise AxiomViolation("reversal symmetry", ballots, candidates, f"{winner} wins both ways")
    return True


AXIOMS: dict[str, Callable[[Method, list, list], bool]] = {
    "condorcet_winner": check_condorcet_winner,
    "condorcet_loser": check_condorcet_loser,
    "pareto": check_pareto,
    "anonymity": check_anonymity,
    "neutrality": check_neutrality,
    "monotonicity": check_monotonicity,
    "independence_of_clones": check_independence_of_clones,
    "local_iia": check_local_iia,
    "reversal_symmetry": check_reversal_symmetry,
}
