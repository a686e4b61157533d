"""Merging rankings into a consensus: ranked pairs (Tideman) and the methods to compare it with.

Ballots
-------
A ballot is a sequence of candidates, best first. A position may hold a set (or list/tuple) of
candidates, which are then tied: ``["a", {"b", "c"}, "d"]`` ranks a above b and c, which tie, above
d. A truncated ballot ranks the candidates it names above every candidate it leaves out; those
stay tied among themselves. Internally a ballot becomes a row of *levels* (0 = best; equal levels
= tied), and a profile a (ballots x candidates) array, so that many small elections are one
(elections x ballots x candidates) array and are solved together.

Ranked pairs
------------
Every ordered pair (x, y) with margin(x, y) >= 0 is considered in order of decreasing margin;
equal margins follow the tie-break order T, lexicographically on (T-position of x, T-position of
y). A pair is locked unless it would close a cycle. Zero margins are considered too, so exactly
one direction of every pair gets locked and the locked relation is a total order; the result is
that order (equivalently: repeatedly take the first source in T order). With T = the sorted
candidate ids this is exactly the OASST backend's rule (``tie_break="oasst"``) and pref_voting's
``ranked_pairs_tb``. ``tie_break="random"`` with ``seed=`` draws T at random: the seed fixes the
order of an election's sorted candidates, so :func:`ranked_pairs` and :func:`ranked_pairs_many`
give one election the same order from the same seed.

References
----------
Tideman, T. N. (1987). Independence of clones as a criterion for voting rules. Soc. Choice Welf. 4.
Schulze, M. (2011). A new monotonic, clone-independent, reversal symmetric, and condorcet-consistent
single-winner election method. Soc. Choice Welf. 36.
Kemeny, J. (1959). Mathematics without numbers. Daedalus 88.
Köpf, A. et al. (2023). OpenAssistant Conversations. arXiv:2304.07327 (backend ``ranked_pairs``).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Sequence
from itertools import permutations
from typing import Any

import numpy as np
import pandas as pd

from ._util import bootstrap_estimate, one_blas_thread
from .errors import NotComputableError, UsageError
from .estimate import Estimate

Ballot = Sequence[Any]
TieBreak = str | Sequence[Hashable] | None


# --------------------------------------------------------------------------- ballots -> levels


def _position_members(position: Any) -> list:
    return list(position) if _is_group(position) else [position]


_GROUP_TYPES = (set, frozenset, list, tuple)


def _is_group(position: Any) -> bool:
    return isinstance(position, _GROUP_TYPES)


def _candidates(ballots: Iterable[Ballot], candidates: Sequence[Hashable] | None) -> list:
    if candidates is not None:
        return list(candidates)
    seen = dict.fromkeys(c for ballot in ballots for position in ballot for c in _position_members(position))
    try:
        return sorted(seen)
    except TypeError:
        return list(seen)


def levels(ballots: Sequence[Ballot], candidates: Sequence[Hashable]) -> np.ndarray:
    """Ballots x candidates array of levels (0 = best, equal = tied; unnamed candidates last, tied)."""
    index = {c: i for i, c in enumerate(candidates)}
    lengths = np.array([len(b) for b in ballots], dtype=np.int64)
    out = np.repeat(lengths, len(candidates)).reshape(len(ballots), len(candidates))
    rows, cols, lvls = [], [], []
    for b, ballot in enumerate(ballots):
        for level, position in enumerate(ballot):
            for c in position if _is_group(position) else (position,):
                rows.append(b)
                cols.append(c)
                lvls.append(level)
    try:
        codes = [index[c] for c in cols]
    except KeyError as exc:
        raise UsageError(f"a ballot names {exc.args[0]!r}, which is not among the candidates") from None
    out[rows, codes] = lvls
    return out


def _smallest_int(bound: int, signed: bool = True) -> type:
    """The narrowest integer dtype holding -bound..bound (0..bound when unsigned)."""
    for dtype in (np.int8, np.int16, np.int32) if signed else (np.uint8, np.uint16, np.uint32):
        if bound <= np.iinfo(dtype).max:
            return dtype
    return np.int64 if signed else np.uint64


def _margins_from_levels(lv: np.ndarray, weights: np.ndarray | None = None, *, compact: bool = False) -> np.ndarray:
    """(..., C, C) margins from (..., B, C) levels: #ballots preferring x over y minus the reverse.

    ``compact=True`` (integer levels and weights) returns them in the narrowest integer dtype that
    holds every margin, adding one ballot at a time when there are few: the batched ranked pairs
    then moves an eighth of the memory that int64 margins take.
    """
    lv = np.asarray(lv)
    small = lv.size and lv.dtype.kind in "iu" and 0 <= lv.min() and lv.max() <= np.iinfo(np.int16).max
    if small:  # level differences fit: less memory traffic
        lv = lv.astype(np.int8 if lv.max() <= np.iinfo(np.int8).max else np.int16)
    w = None if weights is None else np.asarray(weights)
    if compact and small and (w is None or w.dtype.kind in "iub"):
        B = lv.shape[-2]
        bound = B if w is None else int(np.abs(w).sum(axis=-1).max(initial=0))
        dtype = _smallest_int(bound)
        w = None if w is None else w.astype(dtype)
        if B <= 16:
            out = np.zeros(lv.shape[:-2] + lv.shape[-1:] * 2, dtype=dtype)
            for b in range(B):
                level = lv[..., b, :]
                s = np.sign(level[..., None, :] - level[..., :, None]).astype(dtype, copy=False)
                out += s if w is None else s * w[..., b, None, None]
            return out
        s = np.sign(lv[..., None, :] - lv[..., :, None]).astype(dtype, copy=False)
        return (s if w is None else s * w[..., :, None, None]).sum(axis=-3, dtype=dtype)
    s = np.sign(lv[..., None, :] - lv[..., :, None])  # +1 where x (row) is above y (column)
    if w is not None:
        return (s * w[..., :, None, None]).sum(axis=-3)
    return s.sum(axis=-3, dtype=np.int64)


def margin_matrix(
    ballots: Sequence[Ballot], candidates: Sequence[Hashable] | None = None, weights: Sequence[float] | None = None
) -> pd.DataFrame:
    """Margins: entry (x, y) = ballots preferring x to y minus ballots preferring y to x.

    ``weights`` gives each ballot's multiplicity (e.g. PrefLib counts).
    """
    cands = _candidates(ballots, candidates)
    w = None if weights is None else np.asarray(weights, dtype=float)
    m = _margins_from_levels(levels(ballots, cands), w)
    return pd.DataFrame(m, index=cands, columns=cands)


# --------------------------------------------------------------------------- ranked pairs core


def _random_positions(seed: int, n: int) -> np.ndarray:
    """Position of each of n candidates in a seeded random order. The first k of n candidates are
    ordered as k candidates alone would be (the draws are a prefix of the same stream), so a padded
    batch of elections gets each election's own order."""
    return np.argsort(np.argsort(np.random.default_rng(seed).random(n), kind="stable"), kind="stable")


_TIE_BREAKS = "tie_break is 'oasst' (sorted ids), 'random' (with seed=) or an order of every candidate"


def _tie_order(n: int, tie_break: TieBreak, candidates: Sequence[Hashable] | None = None, seed: int = 0) -> np.ndarray:
    """Position of each candidate index in the tie-break order T."""
    if tie_break is None or (isinstance(tie_break, str) and tie_break in ("oasst", "sorted")):
        return np.arange(n)
    if isinstance(tie_break, str) and tie_break == "random":
        return _random_positions(seed, n)
    if isinstance(tie_break, (str, int, np.integer)):
        raise UsageError(f"{_TIE_BREAKS}, got {tie_break!r}")
    order = list(tie_break)
    cands = list(candidates) if candidates is not None else list(range(n))
    if sorted(map(str, order)) != sorted(map(str, cands)) or len(order) != n:
        raise UsageError("a tie-break order must list every candidate exactly once")
    pos = np.empty(n, dtype=np.int64)
    index = {c: i for i, c in enumerate(cands)}
    for p, c in enumerate(order):
        pos[index[c]] = p
    return pos


def _ranked_pairs_batch(margins: np.ndarray, valid: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Ranked pairs for a batch: margins (E, C, C), valid candidates (E, C), tie-break positions (E, C).

    Valid candidates are a prefix of each row (padding trails). Returns (E, C) orders: candidate
    indices best first, padding candidates last in index order. The loops run over pair slots,
    never over elections.

    Ranked pairs locks one direction of every pair, so the locked relation is a total order and a
    candidate's place is fixed by how many candidates it is locked above: the order is a scatter of
    those counts, with no search for sources.
    """
    E, C, _ = margins.shape
    n_valid = valid.sum(axis=1)
    # wins among valid candidates (padding rows: 0)
    below = ((margins > 0) & valid[:, None, :] & valid[:, :, None]).sum(axis=2)
    # Fast path: when the strict majority relation is a complete transitive order, every pair of it
    # gets locked and it is the result. It is complete when the wins add up to one per pair (no zero
    # margin), and a complete tournament is transitive exactly when its wins are 0, 1, ..., n - 1,
    # i.e. when their sum of squares is the largest possible, sum(k^2, k < n) (Landau, 1953).
    complete = below.sum(axis=1) == n_valid * (n_valid - 1) // 2
    transitive = complete & ((below * below).sum(axis=1) == (n_valid - 1) * n_valid * (2 * n_valid - 1) // 6)
    slow = np.flatnonzero(~transitive)
    if slow.size == 1:  # one big election: numpy's per-call overhead would dominate each pair slot
        below[slow[0]] = _lock_single(margins[slow[0]], valid[slow[0]], tb[slow[0]])
    elif slow.size:
        lock = _lock_bits if C <= 64 else _lock_bool
        below[slow] = lock(margins[slow], valid[slow], tb[slow])
    cand = np.arange(C)
    place = np.where(valid, n_valid[:, None] - 1 - below, cand)  # padding keeps its own index
    result = np.empty((E, C), dtype=np.int64)
    np.put_along_axis(result, place, np.broadcast_to(cand, (E, C)), axis=1)
    return result


def _lock_single(margins: np.ndarray, valid: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """One election, with Python ints as bitsets: how many candidates each is locked above."""
    px, py, ok = _sorted_pairs(margins[None], valid[None], tb[None])
    C = valid.size
    reach = [0] * C  # reach[a] has bit b when a is locked above b
    for x, y in zip(px[0][ok[0]].tolist(), py[0][ok[0]].tolist()):
        if reach[y] >> x & 1:
            continue  # y is already above x: locking x > y would close a cycle
        gain = reach[y] | 1 << y
        for a in range(C):
            if a == x or reach[a] >> x & 1:
                reach[a] |= gain
    return np.array([r.bit_count() for r in reach], dtype=np.int64)


def _sorted_pairs(margins: np.ndarray, valid: np.ndarray, tb: np.ndarray):
    """Candidate pairs in locking order: decreasing margin, then T-position of x, then of y.

    Returns (x, y, eligible), each (E, slots), cut after the last slot any election uses.
    """
    C = margins.shape[1]
    xs, ys = np.nonzero(~np.eye(C, dtype=bool))
    m = margins[:, xs, ys]
    eligible = (m >= 0) & valid[:, xs] & valid[:, ys]
    if m.dtype.kind in "iu" and m.size:  # one integer key: one argsort instead of a three-key lexsort
        span = int(m.max()) + 2
        dtype = _smallest_int((span + 1) * C * C)
        key = (span - 1 - np.where(eligible, m, -1).astype(dtype)) * dtype(C * C) + (tb[:, xs] * C + tb[:, ys]).astype(
            dtype
        )
        order = np.argsort(key, axis=-1)  # keys differ within an election (T is a permutation)
    else:
        order = np.lexsort((tb[:, ys], tb[:, xs], -np.where(eligible, m, -1)), axis=-1)
    ok = np.take_along_axis(eligible, order, axis=-1)
    n_slots = int(ok.sum(axis=1).max()) if ok.size else 0  # ineligible pairs sort last
    return xs[order[:, :n_slots]], ys[order[:, :n_slots]], ok[:, :n_slots]


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each element of an unsigned integer array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x).astype(np.int64)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    return table[x[..., None].view(np.uint8)].sum(axis=-1)


def _lock_bits(margins: np.ndarray, valid: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Locking with reachability as bitmasks (reach[e, a] has bit b when a is locked above b or
    b = a); returns how many candidates each is locked above."""
    E, C, _ = margins.shape
    px, py, ok = _sorted_pairs(margins, valid, tb)
    dtype = _smallest_int(2**C - 1, signed=False)
    bit = np.left_shift(dtype(1), np.arange(C, dtype=dtype))
    reach = np.broadcast_to(bit, (E, C)).copy()  # each candidate reaches itself
    bx_all = bit[px]
    fy_all = np.arange(E)[:, None] * C + py  # flat index of y's row of reach
    for k in range(px.shape[1]):
        reach_y = reach.ravel()[fy_all[:, k]]
        bx = bx_all[:, k]
        lock = ok[:, k] & ((reach_y & bx) == 0)  # y does not already reach x
        above_x = (reach & bx[:, None]) != 0  # x and what reaches x
        above_x &= lock[:, None]
        reach |= above_x * reach_y[:, None]  # they now reach y and what y reaches
    return _popcount(reach) - 1


def _lock_bool(margins: np.ndarray, valid: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Locking with a boolean reachability matrix (any number of candidates); returns how many
    candidates each is locked above."""
    E, C, _ = margins.shape
    px, py, ok = _sorted_pairs(margins, valid, tb)
    reach = np.zeros((E, C, C), dtype=bool)
    eye = np.eye(C, dtype=bool)
    rows = np.arange(E)
    for k in range(px.shape[1]):
        x, y = px[:, k], py[:, k]
        lock = ok[:, k] & ~reach[rows, y, x]
        if not lock.any():
            continue
        above_x = reach[rows, :, x] | eye[x]
        below_y = reach[rows, y, :] | eye[y]
        reach |= lock[:, None, None] & above_x[:, :, None] & below_y[:, None, :]
    return reach.sum(axis=2)


def ranked_pairs(
    ballots: Sequence[Ballot],
    *,
    candidates: Sequence[Hashable] | None = None,
    tie_break: TieBreak = "oasst",
    seed: int = 0,
    weights: Sequence[float] | None = None,
) -> list:
    """The full ranked-pairs consensus order, best first.

    Parameters
    ----------
    ballots
        Sequences of candidates, best first; a set/list/tuple at one position means a tie, and
        candidates a ballot leaves out rank below those it names (tied among themselves).
    candidates
        Every candidate, including any that appear on no ballot (default: those on the ballots,
        sorted).
    tie_break
        How equal margins are ordered: ``"oasst"`` (the OASST backend: sorted candidate ids), an
        explicit order of all candidates, or ``"random"``: a random order drawn with ``seed``.
    seed
        The seed of ``tie_break="random"`` (the same order as :func:`ranked_pairs_many` draws).
    weights
        Multiplicity of each ballot.
    """
    cands = _candidates(ballots, candidates)
    if not cands:
        return []
    w = None if weights is None else np.asarray(weights, dtype=float)
    margins = _margins_from_levels(levels(ballots, cands), w)[None]
    tb = _tie_order(len(cands), tie_break, cands, seed)[None]
    order = _ranked_pairs_batch(margins, np.ones((1, len(cands)), dtype=bool), tb)[0]
    return [cands[i] for i in order]


def _pad_profiles(profiles: Sequence[Sequence[Ballot]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pack profiles into (E, B, C) levels, (E, B) integer ballot weights (0 = padding), (E, C) valid
    candidates and an (E, C) object array of candidate names (sorted per election; padding None)."""
    E = len(profiles)
    B = max((len(p) for p in profiles), default=0)
    flat = [x for p in profiles for b in p for x in b]
    if any(issubclass(t, _GROUP_TYPES) for t in set(map(type, flat))):
        return _pad_profiles_slow(profiles, E, B)
    n_ballots = np.array([len(p) for p in profiles], dtype=np.int64)
    lengths = np.array([len(b) for p in profiles for b in p], dtype=np.int64)
    ballot_election = np.repeat(np.arange(E), n_ballots)
    ballot_index = np.arange(n_ballots.sum()) - np.repeat(np.cumsum(n_ballots) - n_ballots, n_ballots)
    position = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    entries = (np.repeat(ballot_election, lengths), np.repeat(ballot_index, lengths), flat, position)
    return _padded(entries, (ballot_election, ballot_index, lengths), n_ballots)


def _padded(
    entries: tuple[np.ndarray, np.ndarray, Sequence, np.ndarray],
    ballots: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_ballots: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_pad_profiles` returns, from each named candidate as (election, ballot within it,
    candidate, level), each ballot as (election, index within it, length) and each election's number
    of ballots: one factorize over all candidates, a candidate's index its rank within its election;
    a candidate a ballot leaves out gets the ballot's length, below those it names."""
    election, ballot, cands, level = entries
    ballot_election, ballot_index, lengths = ballots
    E, B = n_ballots.size, int(n_ballots.max(initial=0))
    codes, labels = pd.factorize(pd.Series(cands, dtype=object), sort=True)
    n_labels = max(len(labels), 1)
    uniq, inverse = np.unique(election * n_labels + codes, return_inverse=True)  # sorted ids per election
    u_election = uniq // n_labels
    starts = np.searchsorted(u_election, np.arange(E))
    n_cands = np.bincount(u_election, minlength=E)
    C = int(n_cands.max(initial=0))
    lv = np.zeros((E, B, C), dtype=np.int64)
    lv[ballot_election, ballot_index] = lengths[:, None]
    lv[election, ballot, inverse.reshape(-1) - starts[election]] = level
    weights = (np.arange(B) < n_ballots[:, None]).astype(np.int64)
    valid = np.arange(C) < n_cands[:, None]
    names = np.full((E, C), None, dtype=object)
    names[u_election, np.arange(len(uniq)) - starts[u_election]] = labels.to_numpy(dtype=object)[uniq % n_labels]
    return lv, weights, valid, names


def _pad_profiles_slow(profiles, E: int, B: int):
    cand_lists = [_candidates(p, None) for p in profiles]
    C = max((len(c) for c in cand_lists), default=0)
    lv = np.zeros((E, B, C), dtype=np.int64)
    weights = np.zeros((E, B), dtype=np.int64)
    valid = np.zeros((E, C), dtype=bool)
    names = np.full((E, C), None, dtype=object)
    for e, (profile, cands) in enumerate(zip(profiles, cand_lists)):
        if profile:
            lv[e, : len(profile), : len(cands)] = levels(profile, cands)
        weights[e, : len(profile)] = 1
        valid[e, : len(cands)] = True
        for i, c in enumerate(cands):
            names[e, i] = c
    return lv, weights, valid, names


def _batch_tie_order(tie_break: TieBreak, seed: int, E: int, C: int) -> np.ndarray:
    """(E, C) tie-break positions of a padded batch: sorted ids (``"oasst"``) or the order
    :func:`ranked_pairs` draws from ``seed`` (``"random"``), the same for every election."""
    if isinstance(tie_break, str) and tie_break == "random":
        return np.broadcast_to(_random_positions(seed, C), (E, C))
    if tie_break is None or (isinstance(tie_break, str) and tie_break in ("oasst", "sorted")):
        return np.broadcast_to(np.arange(C), (E, C))
    raise UsageError(f"ranked_pairs_many takes tie_break='oasst' or 'random' (with seed=), got {tie_break!r}")


def ranked_pairs_many(
    profiles: Sequence[Sequence[Ballot]] | np.ndarray,
    *,
    tie_break: TieBreak = "oasst",
    seed: int = 0,
    weights: np.ndarray | None = None,
    n_candidates: np.ndarray | None = None,
) -> list[list] | np.ndarray:
    """Ranked pairs for many small elections at once (the same result as :func:`ranked_pairs` on each).

    ``profiles`` is either a list of profiles (each a list of ballots; candidates are those on
    its ballots, sorted) and the result a list of orders, or an integer array of levels
    (elections x ballots x candidates; 0 = best, equal = tied; candidates are 0..C-1) and the result
    an (elections x candidates) array of candidate indices, best first. With an array,
    ``weights`` (elections x ballots) can switch padding ballots off (weight 0) and
    ``n_candidates`` (elections,) marks trailing padding candidates; padding comes last, in index order.
    ``tie_break`` is ``"oasst"`` or ``"random"`` with ``seed``: each election gets the order
    :func:`ranked_pairs` draws for it from that seed.
    """
    if isinstance(profiles, np.ndarray):
        lv = profiles
        E, _, C = lv.shape
        n = np.full(E, C) if n_candidates is None else np.asarray(n_candidates)
        valid = np.arange(C) < n[:, None]
        names = None
    else:
        lv, weights, valid, names = _pad_profiles(profiles)
        E, _, C = lv.shape
    tb = _batch_tie_order(tie_break, seed, E, C)
    orders = _ranked_pairs_batch(_margins_from_levels(lv, weights, compact=True), valid, tb)
    return orders if names is None else [list(order) for order in _named_orders(names, orders, valid)]


# --------------------------------------------------------------------------- comparison methods


def _prepare(ballots, candidates, tie_break, seed, weights):
    cands = _candidates(ballots, candidates)
    w = None if weights is None else np.asarray(weights, dtype=float)
    lv = levels(ballots, cands)
    return cands, lv, w, _tie_order(len(cands), tie_break, cands, seed)


def _order_by(scores: np.ndarray, tb: np.ndarray, cands: list) -> list:
    """Candidates by decreasing score, ties by the tie-break order."""
    return [cands[i] for i in np.lexsort((tb, -scores))]


def borda(ballots, *, candidates=None, tie_break: TieBreak = "oasst", seed: int = 0, weights=None) -> list:
    """Borda count: a candidate scores one point per candidate below it on each ballot, half per tie."""
    cands, lv, w, tb = _prepare(ballots, candidates, tie_break, seed, weights)
    margins = _margins_from_levels(lv, w)
    return _order_by(margins.sum(axis=1), tb, cands)  # rank-equivalent to Borda with half points for ties


def copeland(ballots, *, candidates=None, tie_break: TieBreak = "oasst", seed: int = 0, weights=None) -> list:
    """Copeland: pairwise wins minus pairwise losses."""
    cands, lv, w, tb = _prepare(ballots, candidates, tie_break, seed, weights)
    margins = _margins_from_levels(lv, w)
    return _order_by(np.sign(margins).sum(axis=1), tb, cands)


def schulze(ballots, *, candidates=None, tie_break: TieBreak = "oasst", seed: int = 0, weights=None) -> list:
    """Schulze (beatpath) with winning votes: widest paths over d(x, y) where x beats y."""
    cands, lv, w, tb = _prepare(ballots, candidates, tie_break, seed, weights)
    wins = (np.sign(lv[:, None, :] - lv[:, :, None]) > 0).astype(float)  # B x C x C: x above y
    if w is not None:
        wins = wins * w[:, None, None]
    d = wins.sum(axis=0)
    p = np.where(d > d.T, d, 0.0)
    for k in range(len(cands)):  # Floyd-Warshall on path widths
        p = np.maximum(p, np.minimum(p[:, k : k + 1], p[k : k + 1, :]))
    np.fill_diagonal(p, 0)
    return _order_by((p > p.T).sum(axis=1).astype(float), tb, cands)


def kemeny_young(
    ballots, *, candidates=None, tie_break: TieBreak = "oasst", seed: int = 0, weights=None, max_candidates=8
) -> list:
    """Kemeny-Young: the order with the most pairwise agreement with the ballots (exact, by enumeration).

    Among equally good orders, the first in lexicographic tie-break order wins. Enumerates all
    C! orders, so it refuses more than ``max_candidates`` candidates.
    """
    cands, lv, w, tb = _prepare(ballots, candidates, tie_break, seed, weights)
    n = len(cands)
    if n > max_candidates:
        raise UsageError(f"exact Kemeny-Young enumerates {n}! orders; at most {max_candidates} candidates")
    margins = _margins_from_levels(lv, w)
    by_tb = np.argsort(tb)
    perms = np.array(list(permutations(by_tb)))  # lexicographic in tie-break order
    pos = np.argsort(perms, axis=1)  # position of each candidate in each order
    above = pos[:, :, None] < pos[:, None, :]
    scores = (above * margins).sum(axis=(1, 2))
    best = perms[int(np.argmax(scores))]
    return [cands[i] for i in best]


METHODS = {
    "ranked_pairs": ranked_pairs,
    "schulze": schulze,
    "copeland": copeland,
    "borda": borda,
    "kemeny_young": kemeny_young,
}


def consensus(ballots, method: str = "ranked_pairs", **kw) -> list:
    """The consensus order by ``method`` (``ranked_pairs``, ``schulze``, ``copeland``, ``borda``, ``kemeny_young``)."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return METHODS[method](ballots, **kw)


# --------------------------------------------------------------------------- datasets


def ballot_rows(ballots: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every named candidate of every ballot as (ballot position in ``ballots``, candidate, level),
    levels 0 = best and equal for a tied position, a tie's members by type name and text (not a set's
    iteration order, which the hash seed changes); two pandas explodes, no Python loop per vote.
    Ballots that are all tuples (or lists) of ids that are all text, without ties (the usual
    rankings), are laid out directly: the same arrays, without the explodes."""
    values = ballots.to_numpy()
    if set(map(type, values)) <= {tuple, list}:
        flat = list(itertools.chain.from_iterable(values))
        if set(map(type, flat)) == {str}:  # one id per position: no tie, nothing missing
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=values.size)
            row = np.repeat(np.arange(values.size, dtype=np.int64), lengths)
            cand = np.empty(len(flat), dtype=object)
            cand[:] = flat
            return row, cand, np.arange(row.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = pd.Series(values, dtype=object).explode()
    level = positions.groupby(level=0).cumcount().to_numpy()
    long = pd.DataFrame({"c": positions.to_numpy(), "lvl": level, "row": positions.index.to_numpy()}).explode("c")
    long = long[long["c"].notna()]
    row, cand, lvl = long["row"].to_numpy(np.int64), long["c"].to_numpy(), long["lvl"].to_numpy(np.int64)
    tied = np.flatnonzero(long.duplicated(["row", "lvl"], keep=False).to_numpy())
    if tied.size:
        key = np.array([f"{type(c).__name__}:{c}" for c in cand[tied]], dtype=object)
        cand[tied] = cand[tied][np.lexsort((key, lvl[tied], row[tied]))]
    return row, cand, lvl


PAIRS = ("all", "adjacent")


def _reply_codes(rankings: pd.DataFrame, group: str, ranking: str) -> tuple[np.ndarray, ...]:
    """Every reply that a ranking names, coded with no loop per ranking or set: per named reply its
    ranking's row (position in ``rankings``), the set code (``pd.factorize`` of ``group``), the
    reply's index within its set (first-seen order: no ordering of ids) and its level (0 = best,
    equal = tied); then each set's size and first (set, reply) index, each (set, reply)'s id, and
    each set's id."""
    rows, cands, lvls = ballot_rows(rankings[ranking])
    g_code, groups = pd.factorize(rankings[group].to_numpy())
    cand_code, labels = pd.factorize(pd.Series(cands, dtype=object))
    width = max(len(labels), 1)
    reply_code, uniq = pd.factorize(g_code[rows] * width + cand_code)  # (set, reply) as one integer
    reply_set = uniq // width
    sizes = np.bincount(reply_set, minlength=int(g_code.max()) + 1 if g_code.size else 0)
    starts = np.cumsum(sizes) - sizes
    within = np.empty(reply_set.size, dtype=np.int64)
    by_set = np.argsort(reply_set, kind="stable")
    within[by_set] = np.arange(reply_set.size) - starts[reply_set[by_set]]
    names = labels.to_numpy(dtype=object)[uniq % width]
    return rows, g_code, within[reply_code], lvls, sizes, starts, names, groups


def _named_pairs(rankings: pd.DataFrame, group: str, ranking: str) -> tuple[np.ndarray, ...]:
    """Every pair of replies that one ranking names both of, as flat arrays with no loop per
    ranking or set: the set code, the two replies' indices within their set (first < second, in
    first-seen order: no ordering of ids), the vote (+1 the first above, -1 below, 0 tied); then
    each set's size and first (set, reply) index, each (set, reply)'s id, and each set's id. A reply
    a ranking leaves out is in none of its pairs; one it names twice (malformed) is not paired with
    itself; a ranking without a set (missing ``group``) is in none, as in :func:`consensus_ranks`."""
    rankings = rankings[rankings[group].notna()]
    rows, g_code, cand, lvls, sizes, starts, names, groups = _reply_codes(rankings, group, ranking)
    first, second = _entry_pairs(rows, cand, len(rankings))
    vote = np.sign(lvls[second] - lvls[first])
    return g_code[rows[first]], cand[first], cand[second], vote, sizes, starts, names, groups


def _entry_pairs(rows: np.ndarray, cand: np.ndarray, n_rankings: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of the named replies of :func:`_reply_codes` (which come ranking by ranking) that
    one ranking names both of, as two entry indices, the reply first in its set first; a reply
    named twice is not paired with itself."""
    k = np.bincount(rows, minlength=n_rankings)
    follow = k[rows] - (np.arange(rows.size) - (np.cumsum(k) - k)[rows]) - 1  # entries after it in its ranking
    left = np.repeat(np.arange(rows.size), follow)
    right = left + 1 + np.arange(left.size) - np.repeat(np.cumsum(follow) - follow, follow)
    distinct = cand[left] != cand[right]
    left, right = left[distinct], right[distinct]
    swap = cand[left] > cand[right]
    return np.where(swap, right, left), np.where(swap, left, right)


def _reference_tiers(
    g: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    starts: np.ndarray,
    n_replies: int,
) -> np.ndarray:
    """Each (set, reply)'s tier in its set's reference order (-1: in no voted pair): replies by
    decreasing net pairwise margin (their Borda score on the pairs each ranking names), equal
    scores one tier, tiers numbered consecutively over all sets. Ids play no part."""
    i, j = starts[g] + first, starts[g] + second
    score = np.bincount(i, a - b, n_replies) + np.bincount(j, b - a, n_replies)
    voted = np.bincount(np.concatenate([i, j]), minlength=n_replies) > 0
    reply_set = np.repeat(np.arange(starts.size), np.diff(np.append(starts, n_replies)))
    idx = np.flatnonzero(voted)
    idx = idx[np.lexsort((-score[idx], reply_set[idx]))]
    new = np.ones(idx.size, dtype=bool)
    new[1:] = (reply_set[idx[1:]] != reply_set[idx[:-1]]) | (score[idx[1:]] != score[idx[:-1]])
    tier = np.full(n_replies, -1, dtype=np.int64)
    tier[idx] = np.cumsum(new)
    return tier


def _pair_votes(rankings: pd.DataFrame, group: str, ranking: str) -> dict[str, Any]:
    """Per (reply set, pair of replies) that some ranking names both of: how many rankings put the
    first above the second (``a``), the second above the first (``b``), or tie them (``t``); the
    set (``g``), the replies' indices in it (``first``, ``second``) and whether the pair is
    ``adjacent`` or ``tied_reference`` in the set's reference order (:func:`_reference_tiers`);
    then ``n_sets``, each set's ``sizes`` and first (set, reply) index (``starts``), ``names`` and
    the sets' ids (``groups``)."""
    g, first, second, vote, sizes, starts, names, groups = _named_pairs(rankings, group, ranking)
    C = max(int(sizes.max()) if sizes.size else 0, 1)
    keys, inv = np.unique((g * C + first) * C + second, return_inverse=True)
    inv = inv.ravel()
    a, b, t = (np.bincount(inv, vote == v, keys.size) for v in (1, -1, 0))
    out = {"a": a, "b": b, "t": t, "g": keys // (C * C), "first": keys // C % C, "second": keys % C}
    tier = _reference_tiers(out["g"], out["first"], out["second"], a, b, starts, names.size)
    ti, tj = tier[starts[out["g"]] + out["first"]], tier[starts[out["g"]] + out["second"]]
    out["adjacent"], out["tied_reference"] = np.abs(ti - tj) == 1, ti == tj
    return out | {"n_sets": sizes.size, "sizes": sizes, "starts": starts, "names": names, "groups": groups}


def _population(pairs: str, v: dict[str, Any]) -> np.ndarray:
    """Which of the pairs of :func:`_pair_votes` a pair population keeps."""
    if pairs not in PAIRS:
        raise UsageError(f"pairs must be one of {', '.join(PAIRS)}, got {pairs!r}")
    return v["adjacent"] if pairs == "adjacent" else np.ones(v["a"].size, dtype=bool)


def pair_votes(
    rankings: pd.DataFrame, *, group: str = "group", ranking: str = "ranking", pairs: str = "all"
) -> pd.DataFrame:
    """The comparisons behind :func:`pairwise_agreement`, one row per pair of replies of a set that
    at least one ranking names both of: ``group``, ``first`` and ``second`` (the reply ids, in the
    order the table first names them), the votes ``first_above``, ``second_above`` and ``tied``,
    and ``adjacent`` (neighbours in the set's reference order: replies by decreasing net pairwise
    margin, equal margins one tier) and ``tied_reference`` (the two replies tie in it)."""
    v = _pair_votes(rankings, group, ranking)
    keep = _population(pairs, v)
    keys = np.asarray(v["groups"], dtype=object)
    g, first, second = v["g"][keep], v["first"][keep], v["second"][keep]
    return pd.DataFrame(
        {
            group: keys[g],
            "first": v["names"][v["starts"][g] + first],
            "second": v["names"][v["starts"][g] + second],
            "first_above": v["a"][keep].astype(np.int64),
            "second_above": v["b"][keep].astype(np.int64),
            "tied": v["t"][keep].astype(np.int64),
            "adjacent": v["adjacent"][keep],
            "tied_reference": v["tied_reference"][keep],
        }
    )


def _agreement_counts(v: dict[str, Any], ties: bool, pairs: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Per reply set: (agreeing, all) pairs of rankers over its pairs of replies of the population
    ``pairs``, FastChat's human-human way, from the votes of :func:`_pair_votes`."""
    keep = _population(pairs, v)
    a, b, t, g = v["a"][keep], v["b"][keep], v["t"][keep], v["g"][keep]
    if ties:
        agree, total = a * (a - 1) + b * (b - 1) + t * (t - 1), (a + b + t) * (a + b + t - 1)
    else:
        agree, total = a * (a - 1) + b * (b - 1), (a + b) * (a + b - 1)
    return np.bincount(g, agree / 2, v["n_sets"]), np.bincount(g, total / 2, v["n_sets"])


def pairwise_agreement(
    rankings: pd.DataFrame,
    *,
    group: str = "group",
    ranking: str = "ranking",
    ties: bool = False,
    pairs: str = "all",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """How often two rankers judge a pair of replies alike, under the convention of FastChat's
    human-human agreement (``compute_agreement.py``), with a bootstrap interval over reply sets.

    Each pair of replies of a set is one comparison; every ranking that names both replies casts a
    vote on it (the first above, the second above, or a tie; a reply the ranking leaves out casts
    none: it is not "ranked last"). Every pair of votes on a comparison counts once: with
    ``ties=True`` all of them, a tie agreeing with a tie; with ``ties=False`` (default) pairs where
    either vote is a tie are left out.

    ``pairs`` is the pair population: ``"all"`` pairs of replies of each set, or ``"adjacent"``
    ones, neighbours in the set's reference order: its replies by decreasing net pairwise margin
    over its rankings (wins minus losses on the pairs each ranking names; Borda's score for
    complete rankings), replies of equal margin one tier; a pair is adjacent when its replies sit
    in neighbouring tiers, and a pair within a tier (tied in the reference) is left out
    (``details['n_tied_reference_pairs']``). Ids never order anything. See :func:`pair_votes`.

    ``n``: the pairs of votes; ``details``: ``n_sets``, ``ties``, ``pairs``, ``pair_population``,
    ``largest_set`` (a set of two replies is a single pairwise judgment, MT-Bench's population;
    larger sets are not). The interval is not computable (``low``, ``high`` None) on one reply
    set. Raises NotComputableError when no two rankings share a pair of replies.
    """
    out = pairwise_agreements(
        rankings,
        group=group,
        ranking=ranking,
        ties=(ties,),
        pairs=pairs,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )[ties]
    if isinstance(out, NotComputableError):
        raise out
    return out


def pairwise_agreements(
    rankings: pd.DataFrame,
    *,
    group: str = "group",
    ranking: str = "ranking",
    ties: tuple[bool, ...] = (False, True),
    pairs: str = "all",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[bool, Estimate | NotComputableError]:
    """:func:`pairwise_agreement` under each convention of ``ties`` from one pass over the pair
    votes: per convention its Estimate, or the NotComputableError that it would raise. Each
    convention draws its bootstrap from ``seed`` as :func:`pairwise_agreement` does; conventions
    that keep as many reply sets share the draws (the same draws: they depend on the count alone)."""
    v = _pair_votes(rankings, group, ranking)
    counts: dict[bool, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # agree, total, the sets kept
    out: dict[bool, Estimate | NotComputableError] = {}
    for tie in ties:
        agree, total = _agreement_counts(v, tie, pairs)
        keep = total > 0
        if not keep.any():
            out[tie] = NotComputableError("no two rankings order the same pair of replies: no comparison to count")
            continue
        counts[tie] = agree[keep], total[keep], keep
    sums = _resampled_sums({tie: np.column_stack(c[:2]) for tie, c in counts.items()}, n_resamples, seed)
    population = {
        "all": "all pairs of replies of each set",
        "adjacent": "pairs of replies adjacent in each set's order by net pairwise margin; pairs it ties left out",
    }[pairs]
    for tie, (agree, total, keep) in counts.items():
        convention = "ties counted (a tie agrees with a tie)" if tie else "pairs of votes with a tie left out"
        details = {
            "n_sets": int(agree.size),
            "ties": "counted" if tie else "left out",
            "pairs": pairs,
            "pair_population": f"{population}; replies a ranking leaves out make no vote",
            "largest_set": int(v["sizes"][keep].max()),
        }
        if pairs == "adjacent":
            details["n_tied_reference_pairs"] = int(v["tied_reference"].sum())
        try:
            out[tie] = bootstrap_estimate(
                float(agree.sum() / total.sum()),
                sums[tie][:, 0] / sums[tie][:, 1],
                confidence,
                int(total.sum()),
                f"pairs of votes on each pair of replies, {convention}; percentile bootstrap over reply sets",
                details,
                units=int(agree.size),
                unit="reply set",
            )
        except NotComputableError as exc:
            out[tie] = exc
    return {tie: out[tie] for tie in ties}


_DRAWN_AT_ONCE = 1 << 19  # multinomial counts per block of resamples: 4 MB of them, not n_resamples x sets


def _resampled_sums(columns: dict, n_resamples: int, seed: int) -> dict:
    """Per key, the (n_resamples, 2) sums of its two per-set columns (sets x 2) over reply sets drawn
    multinomially from ``seed`` (``rng.multinomial(sets, uniform, size=n_resamples)``); keys with as
    many sets share the draws. The resamples are drawn a block at a time from one generator: the
    same draws as one call (each resample continues the stream), and each block's product with
    the columns gives the same sums as the whole array's, without holding n_resamples x sets counts."""
    out = {}
    for size in dict.fromkeys(x.shape[0] for x in columns.values()):
        keys = [k for k, x in columns.items() if x.shape[0] == size]
        rng, p = np.random.default_rng(seed), np.full(size, 1 / size)
        step = max(1, _DRAWN_AT_ONCE // size)
        for k in keys:
            out[k] = np.empty((n_resamples, 2))
        with one_blas_thread():  # many products of a short, wide block with two columns: no pool to wake
            for start in range(0, n_resamples, step):
                f = rng.multinomial(size, p, size=min(step, n_resamples - start)).astype(float)
                for k in keys:
                    out[k][start : start + f.shape[0]] = f @ columns[k]  # the resampled sums of both, one matmul
    return out


def ranking_summary(rankings: pd.DataFrame) -> dict:
    """Ranked reply sets of a ranking table (``group``, ``ranking``; a Dataset's through
    ``adapter.rankings``): how many, their sizes, and the preference pairs they imply."""
    sizes = rankings["ranking"].map(len).value_counts().sort_index()
    k = sizes.index.to_numpy()
    return {
        "n_ranked_groups": len(rankings),
        "group_sizes": {int(k): int(v) for k, v in sizes.items()},
        "n_preference_pairs": int((k * (k - 1) // 2 * sizes.to_numpy()).sum()),
    }


def preference_pairs(rankings: pd.DataFrame, *, group: str = "group", ranking: str = "ranking") -> pd.DataFrame:
    """Every (chosen, rejected) pair implied by each ranking: the input a reward model trains on.

    Columns: the group columns of ``rankings`` (``group`` and, if present, ``tree`` and
    ``annotator``), ``chosen``, ``rejected``, ``rank_chosen``, ``rank_rejected`` (positions, 0 = best).
    """
    keep = [c for c in (group, "tree", "annotator") if c in rankings.columns]
    columns = [*keep, "chosen", "rejected", "rank_chosen", "rank_rejected"]
    orders = rankings[ranking].to_numpy()
    k = np.fromiter(map(len, orders), dtype=np.int64, count=orders.size)
    n_pairs = k * (k - 1) // 2
    if not n_pairs.sum():
        return pd.DataFrame([], columns=columns)
    # pair p of its ranking (row): positions (i, j) in the order np.triu_indices gives, i before j
    row = np.repeat(np.arange(orders.size), n_pairs)
    p = np.arange(row.size) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    i, j, size = np.empty_like(p), np.empty_like(p), k[row]
    for kk in np.unique(size):
        at = size == kk
        ti, tj = np.triu_indices(kk, 1)
        i[at], j[at] = ti[p[at]], tj[p[at]]
    flat = np.empty(int(k.sum()), dtype=object)
    flat[:] = list(itertools.chain.from_iterable(orders))
    start = (np.cumsum(k) - k)[row]
    out = {c: rankings[c].to_numpy(dtype=object)[row] for c in keep}
    out |= {"chosen": flat[start + i], "rejected": flat[start + j], "rank_chosen": i, "rank_rejected": j}
    return pd.DataFrame(out, columns=columns).infer_objects()


def _group_profiles(rankings: pd.DataFrame, group: str, ranking: str):
    """A long per-ranker ranking table as (groups x ballots x candidates) levels: the groups in
    first-seen order, and what :func:`_pad_profiles` gives for their profiles (levels, ballot
    weights, valid candidates, candidate names), built from one explode of the table."""
    rankings = rankings[rankings[group].notna()]  # as groupby: a row without a group is in none
    keys, g = pd.factorize(rankings[group].to_numpy(dtype=object))
    E = len(g)
    n_ballots = np.bincount(keys, minlength=E)
    order = np.argsort(keys, kind="stable")
    ballot = np.empty(len(keys), dtype=np.int64)
    ballot[order] = np.arange(len(keys)) - np.repeat(np.cumsum(n_ballots) - n_ballots, n_ballots)
    row, cand, level = ballot_rows(rankings[ranking])
    lengths = np.fromiter(map(len, rankings[ranking]), dtype=np.int64, count=len(keys))
    return list(g), *_padded((keys[row], ballot[row], cand, level), (keys, ballot, lengths), n_ballots)


def consensus_ranks(
    rankings: pd.DataFrame,
    *,
    group: str = "group",
    ranking: str = "ranking",
    tie_break: TieBreak = "oasst",
) -> pd.DataFrame:
    """Merge per-ranker rankings into one consensus order per group with ranked pairs.

    ``rankings`` is a long table: one row per (group, ranker) with a ranking (ids best first, ties
    as sets). Returns ``group``, ``consensus`` (ids best first) and ``n_rankings``.
    """
    keys, lv, weights, valid, names = _group_profiles(rankings, group, ranking)
    orders = ranked_pairs_many(lv, tie_break=tie_break, weights=weights, n_candidates=valid.sum(axis=1))
    return pd.DataFrame(
        {group: keys, "consensus": _named_orders(names, orders, valid), "n_rankings": weights.sum(axis=1).tolist()}
    )


def _named_orders(names: np.ndarray, orders: np.ndarray, valid: np.ndarray) -> list[tuple]:
    """Each election's order (candidate indices, padding last) as a tuple of its candidates' names."""
    rows = np.take_along_axis(names, orders, axis=1).tolist()
    return [tuple(row[:n]) for row, n in zip(rows, valid.sum(axis=1).tolist())]


def _kendall_tau(reference: Sequence, ballot: Ballot) -> float:
    """Kendall's tau-b of a ballot (ties allowed) against a reference order, on the ids both name.

    A tied position of the reference is read in sorted order, so the reference is strict and
    tau-b is (concordant − discordant) / sqrt(pairs × (pairs − pairs the ballot ties)), as
    ``scipy.stats.kendalltau``. NaN where undefined (fewer than two shared ids, or every shared
    pair tied): the callers average it over many rankings, skipping those.
    """
    return float(_kendall_taus(pd.Series([reference], dtype=object), pd.Series([ballot], dtype=object))[0])


def _kendall_taus(references: pd.Series, ballots: pd.Series) -> np.ndarray:
    """:func:`_kendall_tau` of each ballot against the reference in the same row, for all rows at
    once: the shared ids of every row in reference order, padded into one (rows x ids) array of
    the ballot's levels per number of shared ids, and the signs of all their pairs summed."""
    ref_row, ref_id, ref_level = ballot_rows(references)
    row, ids, level = ballot_rows(ballots)
    shared = pd.DataFrame({"row": ref_row, "id": ref_id, "ref": ref_level}).merge(
        pd.DataFrame({"row": row, "id": ids, "level": level}), on=["row", "id"]
    )
    shared = shared.sort_values(["row", "ref", "id"], kind="stable")  # a tie of the reference in sorted order
    row, level = shared["row"].to_numpy(), shared["level"].to_numpy().astype(float)
    size = np.bincount(row, minlength=len(references))
    place = np.arange(row.size) - (np.cumsum(size) - size)[row]  # the id's place in its row's reference order
    taus = np.full(len(references), np.nan)
    for m in np.unique(size[size >= 2]):  # one array per number of shared ids
        rows = np.flatnonzero(size == m)
        local = np.full(len(references), -1)
        local[rows] = np.arange(rows.size)
        keep = local[row] >= 0
        lv = np.empty((rows.size, m))
        lv[local[row[keep]], place[keep]] = level[keep]
        i, j = np.triu_indices(m, 1)
        s = np.sign(lv[:, j] - lv[:, i])  # +1: the ballot agrees with the reference on the pair
        n, ties = i.size, (s == 0).sum(axis=1)
        defined = n > ties
        taus[rows[defined]] = s[defined].sum(axis=1) / np.sqrt(n * (n - ties[defined]))
    return taus


def group_diagnostics(
    rankings: pd.DataFrame, *, group: str = "group", ranking: str = "ranking", seeds: Sequence[int] = (0, 1, 2, 3, 4)
) -> pd.DataFrame:
    """Per reply set: ``condorcet_cycle`` (its strict majority relation has a cycle),
    ``zero_margin_pairs`` (candidate pairs with a tied margin), ``n_pairs``, and
    ``tie_break_sensitive`` (the ranked-pairs order changes under a random tie-break drawn with one
    of the ``seeds``), and
    ``consensus`` (the ranked-pairs order with OASST's tie-break)."""
    keys, lv, weights, valid, names = _group_profiles(rankings, group, ranking)
    if not keys:
        return pd.DataFrame(
            columns=[group, "condorcet_cycle", "zero_margin_pairs", "n_pairs", "tie_break_sensitive", "consensus"]
        )
    margins = _margins_from_levels(lv, weights, compact=True)  # the same margins under every tie-break
    E, _, C = lv.shape
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(C, dtype=bool)
    beats = (margins > 0) & pair
    closure = beats.copy()
    for _ in range(max(C - 1, 1).bit_length() + 1):  # transitive closure by repeated squaring
        closure = closure | np.einsum("eab,ebc->eac", closure, closure) > 0
    base = _ranked_pairs_batch(margins, valid, _batch_tie_order("oasst", 0, E, C))
    changed = np.zeros(len(keys), dtype=bool)
    for seed in seeds:  # orders compared as index arrays
        other = _ranked_pairs_batch(margins, valid, _batch_tie_order("random", seed, E, C))
        changed |= (other != base).any(axis=1)
    return pd.DataFrame(
        {
            group: keys,
            "condorcet_cycle": closure[:, np.arange(C), np.arange(C)].any(axis=1),
            "zero_margin_pairs": (((margins == 0) & pair).sum(axis=(1, 2)) // 2).astype(int),
            "n_pairs": (pair.sum(axis=(1, 2)) // 2).astype(int),
            "tie_break_sensitive": changed,
            "consensus": _named_orders(names, base, valid),
        }
    )


def diagnostics(
    rankings: pd.DataFrame,
    *,
    group: str = "group",
    annotator: str = "annotator",
    ranking: str = "ranking",
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> dict:
    """How stable and agreed a set of consensus rankings is.

    Returns a dict with ``n_groups``; ``condorcet_cycle_rate`` (share of groups whose strict
    majority relation has a cycle); ``zero_margin_rate`` (share of groups with at least one tied
    pair) and ``zero_margin_pair_rate`` (share of candidate pairs tied); ``tie_break_sensitivity``
    (share of groups whose consensus changes under a random tie-break drawn with one of the given seeds) and
    ``rankers``: a DataFrame of each ranker's mean Kendall tau-b with the consensus and how many
    rankings it rests on. :func:`group_diagnostics` gives the same per group. Raises
    NotComputableError for a table without rankings.
    """
    if not len(rankings):
        raise NotComputableError("no rankings to diagnose")
    per = group_diagnostics(rankings, group=group, ranking=ranking, seeds=seeds)
    taus = None
    if annotator in rankings.columns:
        order_of = pd.Series(per["consensus"].to_numpy(), index=per[group].to_numpy())
        consensus = pd.Series(order_of.reindex(rankings[group].to_numpy()).to_numpy(), dtype=object)
        taus = pd.DataFrame(
            {"annotator": rankings[annotator].to_numpy(), "tau": _kendall_taus(consensus, rankings[ranking])}
        )
    rankers = (
        (taus.groupby("annotator")["tau"].agg(mean_tau="mean", n_rankings="size").reset_index())
        if taus is not None
        else pd.DataFrame(columns=["annotator", "mean_tau", "n_rankings"])
    )
    n_pairs = int(per["n_pairs"].sum())
    return {
        "n_groups": len(per),
        "condorcet_cycle_rate": float(per["condorcet_cycle"].mean()),
        "zero_margin_rate": float((per["zero_margin_pairs"] > 0).mean()),
        "zero_margin_pair_rate": float(per["zero_margin_pairs"].sum() / n_pairs) if n_pairs else None,
        "tie_break_sensitivity": float(per["tie_break_sensitive"].mean()),
        "rankers": rankers,
    }
