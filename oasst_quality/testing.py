"""Property-based test tools for consensus (preference aggregation) methods.

Hypothesis strategies that draw ranking profiles (complete, with ties, truncated), and axiom
checkers that anyone can point at their own consensus function. A *method* is any callable
``method(ballots, candidates=...) -> order`` (best first), like the functions in
:mod:`oasst_quality.consensus`. A checker returns quietly when the axiom holds on the given
profile and raises :class:`AxiomViolation` (with the profile and what went wrong) when it does
not; profiles the axiom says nothing about pass.

Several axioms only make sense for a resolute method when no tie-breaking is involved: those
checkers pass profiles that :func:`has_distinct_margins` rejects.

    from hypothesis import given
    from oasst_quality import testing as qt

    @given(qt.profiles(max_candidates=5))
    def test_condorcet(profile):
        qt.check_condorcet_winner(my_method, *profile)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .consensus import _margins_from_levels, levels

Method = Callable[..., list]
Profile = tuple[list, list]

__all__ = [
    "AXIOMS",
    "AxiomViolation",
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
) -> st.SearchStrategy[Profile]:
    """Draw ``(ballots, candidates)``: candidates ``"a", "b", ...``; ballots best first.

    ``ties=True`` lets positions hold frozensets of tied candidates; ``truncated=True`` lets
    ballots name only a prefix (the rest rank below, tied).
    """

    @st.composite
    def build(draw):
        n = draw(st.integers(min_candidates, max_candidates))
        candidates = [chr(ord("a") + i) for i in range(n)]
        ballots = draw(st.lists(_ballot(candidates, ties, truncated), min_size=min_ballots, max_size=max_ballots))
        return ballots, candidates

    return build()


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


def check_condorcet_winner(method: Method, ballots: list, candidates: list) -> None:
    """A candidate who beats every other by a strict majority must come first."""
    m = _margins(ballots, candidates)
    for i, c in enumerate(candidates):
        if all(m[i, j] > 0 for j in range(len(candidates)) if j != i):
            order = _run(method, ballots, candidates)
            if order[0] != c:
                raise AxiomViolation("Condorcet winner", ballots, candidates, f"{c} beats all but {order[0]} won")


def check_condorcet_loser(method: Method, ballots: list, candidates: list) -> None:
    """A candidate who loses to every other by a strict majority must not come first."""
    m = _margins(ballots, candidates)
    for i, c in enumerate(candidates):
        if len(candidates) > 1 and all(m[i, j] < 0 for j in range(len(candidates)) if j != i):
            if _run(method, ballots, candidates)[0] == c:
                raise AxiomViolation("Condorcet loser", ballots, candidates, f"{c} loses to all but won")


def check_pareto(method: Method, ballots: list, candidates: list) -> None:
    """If every ballot ranks x strictly above y, so does the result."""
    if not ballots:
        return
    order = _run(method, ballots, candidates)
    pos = {c: i for i, c in enumerate(order)}
    for x in candidates:
        for y in candidates:
            if x != y and all(_strict_above(b, x, y, candidates) for b in ballots) and pos[x] > pos[y]:
                raise AxiomViolation("Pareto", ballots, candidates, f"all prefer {x} to {y}, result ranks {y} higher")


def check_anonymity(method: Method, ballots: list, candidates: list, *, seed: int = 0) -> None:
    """The order of the ballots does not matter."""
    order = _run(method, ballots, candidates)
    shuffled = [ballots[i] for i in np.random.default_rng(seed).permutation(len(ballots))]
    for other in (shuffled, ballots[::-1]):
        if _run(method, other, candidates) != order:
            raise AxiomViolation("anonymity", ballots, candidates, "reordering the ballots changed the result")


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


def check_neutrality(method: Method, ballots: list, candidates: list) -> None:
    """Renaming the candidates renames the result (on profiles needing no tie-breaking)."""
    if not has_distinct_margins(ballots, candidates):
        return
    mapping = dict(zip(candidates, candidates[::-1]))
    order = _run(method, ballots, candidates)
    renamed = _run(method, [_rename(b, mapping) for b in ballots], candidates)
    if renamed != [mapping[c] for c in order]:
        raise AxiomViolation("neutrality", ballots, candidates, f"{order} renamed is not {renamed}")


def check_monotonicity(method: Method, ballots: list, candidates: list) -> None:
    """Raising the winner one place on a ballot keeps them the winner (strict ballots only)."""
    if not has_distinct_margins(ballots, candidates):
        return
    winner = _run(method, ballots, candidates)[0]
    for b, ballot in enumerate(ballots):
        if any(isinstance(p, (set, frozenset, list, tuple)) for p in ballot) or winner not in ballot:
            continue
        i = ballot.index(winner)
        if i == 0:
            continue
        raised = list(ballot)
        raised[i - 1], raised[i] = raised[i], raised[i - 1]
        changed = [*ballots[:b], raised, *ballots[b + 1 :]]
        if has_distinct_margins(changed, candidates) and _run(method, changed, candidates)[0] != winner:
            raise AxiomViolation("monotonicity", ballots, candidates, f"raising {winner} on ballot {b} made it lose")


def check_independence_of_clones(method: Method, ballots: list, candidates: list) -> None:
    """Adding a clone of a loser does not change the winner; a clone of the winner may only replace it.

    The clone is placed right below the original on every ballot (so no ballot separates them).
    """
    if not has_distinct_margins(ballots, candidates) or any(
        isinstance(p, (set, frozenset, list, tuple)) for b in ballots for p in b
    ):
        return
    winner = _run(method, ballots, candidates)[0]
    for x in candidates:
        clone = f"{x}'"
        cloned = [[q for p in b for q in ((p, clone) if p == x else (p,))] for b in ballots]
        if any(x not in b for b in ballots):
            continue  # truncated ballots that leave x out would tie it with its clone below
        new = _run(method, cloned, [*candidates, clone])[0]
        allowed = {winner, clone} if x == winner else {winner}
        if new not in allowed:
            raise AxiomViolation("independence of clones", ballots, candidates, f"cloning {x} made {new} win")


def check_local_iia(method: Method, ballots: list, candidates: list) -> None:
    """Removing the first or the last candidate of the result leaves the others' order unchanged."""
    if len(candidates) < 3 or not has_distinct_margins(ballots, candidates):
        return
    order = _run(method, ballots, candidates)
    for dropped in (order[0], order[-1]):
        rest = [c for c in candidates if c != dropped]
        reduced = [_without(b, dropped) for b in ballots]
        got = _run(method, reduced, rest)
        if got != [c for c in order if c != dropped]:
            raise AxiomViolation("local IIA", ballots, candidates, f"dropping {dropped} reordered the rest: {got}")


def check_reversal_symmetry(method: Method, ballots: list, candidates: list) -> None:
    """Reversing every (complete, strict) ballot must not leave the winner first."""
    if (
        len(candidates) < 2
        or not has_distinct_margins(ballots, candidates)
        or any(len(b) != len(candidates) or isinstance(p, (set, frozenset, list, tuple)) for b in ballots for p in b)
    ):
        return
    winner = _run(method, ballots, candidates)[0]
    if _run(method, [list(b)[::-1] for b in ballots], candidates)[0] == winner:
        raise AxiomViolation("reversal symmetry", ballots, candidates, f"{winner} wins both ways")


AXIOMS: dict[str, Callable[[Method, list, list], None]] = {
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
