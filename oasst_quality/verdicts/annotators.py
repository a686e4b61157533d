"""Suspect annotators: each annotator's reliability with an interval, and a verdict that needs evidence of badness.

Votes
-----
Each label is read at its level of measurement (declared, else :func:`infer_level`). An interval
label with more than 11 distinct values is continuous (below); on the others a Dawid-Skene fit (on
ordered classes for ordinal and interval labels; an ordinal label with more than 11 values is cut
into 9 equal-width bins) gives every item's posterior over the truth; each vote is then scored
against the posterior *without* that vote (leave-one-out, from the fitted model's other votes), on
items that someone else voted on too. Every annotator has their
own answer shares ξ (how often they give each answer: a bias, not a fault), shrunk toward the
crowd's by a Dirichlet prior whose strength is fitted over the annotators (empirical Bayes,
Dirichlet-multinomial), and is one of three types:

* ``honest``: the answers depend on the truth as the crowd's typical annotator's do (the pooled
  confusion matrix ``C``, fitted on the honest annotators, whose lift over the answer shares it
  implies is L[k, l] = C[k, l] / m(l)), at strength θ in [``THETA_FLOOR``, 1]:
  P(l | k) ∝ ξ(l) L[k, l]^θ (θ = 1 and ξ = m: the typical annotator);
* ``spam``: the answer does not depend on the item, P(l | k) = ξ(l) (θ = 0);
* ``reversed``: the same as honest with the truth mirrored, L[K − 1 − k, l] (ordered labels and
  two-class labels; a nominal label with more classes has no mirror and scores as spam).

So an annotator who answers "not relevant" more often than the crowd is not evidence of spam;
answers unrelated to the item are. The type and θ are shared over an annotator's labels (their
log-likelihoods add). The prior over types and θ (a grid) is fitted over all annotators by EM
(empirical Bayes), so a crowd without spammers gives the spam type a tiny prior. The posterior
probability of ``spam`` or ``reversed`` is the evidence; ``reliability`` is the posterior mean of
the signed θ (1: as reliable as the crowd's typical annotator, 0: answers regardless of the item,
−1: reverses the scale) with its equal-tailed interval, under the fitted type weights and a flat
prior over θ within a type (the interval shows what the annotator's own votes say).

``constant_answering`` is tested on its own, since one answer fits every type: one value takes
at least ``CONSTANT_SHARE`` of an annotator's votes on a label, more often than both the crowd's
typical annotator and a perfect one (answering the truth) would give it on the same items
(binomial upper tail at the larger of the two mean rates, which bounds the Poisson-binomial
tail; Hoeffding 1956), Bonferroni over the annotator's labels and Benjamini-Hochberg over
annotators; and the honest type is not ``MIN_BAYES_FACTOR`` times more likely than spam (a
cautious annotator whose rare other answers fall on the right items is not constant). Its
reliability is not measurable (NaN).

Continuous labels
-----------------
The noise-scale model: rater j's rating of item i is x_ij = a_j + β_j μ_i + e_ij, e_ij ~ N(0, s_j²)
(a_j: the rater's offset, β_j: how much of the scale they use, s_j: their noise), fitted by least
squares against each rating's leave-one-out consensus μ (the other ratings of the item, each put on
the consensus scale as (x − a_k) / β_k and weighted by its precision β_k² / s_k²; three passes).
A rater's noise in consensus units, s_j / β_j, is what makes the ratings unreliable, and it sets
their correlation r_j with the consensus ((s/β)² ∝ 1/r² − 1 on the same items); ``reliability`` is
r_j over the crowd's median r₀, with a Fisher-z 95 % interval. Rules, each a one-sided test with
Benjamini-Hochberg over the raters (Bonferroni over a rater's continuous labels):

* ``noisy_ratings``: noise SD above ``NOISE_RATIO`` times the typical rater's, i.e. r_j below
  1 / √(1 + NOISE_RATIO² (1/r₀² − 1)) (Fisher z); named ``random_answering`` when the reliability's
  interval reaches 0 (nothing shows that the ratings follow the items at all) and ``reversed_scale``
  when it lies below 0;
* ``reversed_scale``: r_j below 0;
* ``constant_answering``: one value takes ``CONSTANT_SHARE`` of the ratings, more often than the
  other raters give it on the same items (binomial tail);
* ``compressed_scale``: β_j below ``COMPRESSED`` times the crowd's median slope (t test), with a
  reliability interval above 0 (the ratings follow the items, on a narrower scale). Not a
  suspect: a compressed scale keeps the ratings' information (their correlation), so the rater is
  named for it and the curator rescales rather than drops.

Rankings
--------
Each ranking is compared with the pairwise majority of the *other* rankings of its set, on the
pairs of replies that both it and the others order (a reply the ranker did not rank makes no
comparison, and no id order is used anywhere): S = Σ sign(ranker) · sign(others' margin), with
mean 0 and variance (Q + R) / 3 under a ranker who orders the named replies at random (Q: the
compared pairs, R: the sum of squared row sums of the others' sign matrix; k(k − 1)(2k + 5)/18
for a full strict order). A ranker's agreement β = ΣS / Σ(compared pairs) has standard error
√ΣVar / Σ(compared pairs); β is modelled as a normal mixture of ``at_chance`` (β = 0), honest
(β ~ N(μ, τ²), μ > 0) and reversed (β ~ N(−μ, τ²)), fitted by EM. ``copies_displayed_order``
(when the backend's ``as_displayed`` is known) tests the number of rankings identical to the
displayed order against Σ 1/k! (an honest ranker shown a random order matches it by chance),
exact, with Benjamini-Hochberg over rankers, and needs at least half the rankings to match.

Verdicts
--------
``suspect``: in the largest set of annotators, by decreasing posterior probability of a bad type,
whose mean posterior probability of being *good* stays at most ``fdr`` (the Bayesian false
discovery rate; Müller et al. 2004), with a bad type more likely than not and that type's Bayes
factor against honest at least ``min_bayes_factor``; or a BH rejection of the constant, the
copying or a continuous-label test (except ``compressed_scale``). ``ok``: the probability of a bad
type below ``OK_BELOW``, the data favouring honest (Bayes factor above 1), on at least
``MIN_COMPARED`` compared votes (or rankings); on continuous labels, a reliability interval above
``THETA_FLOOR``. ``insufficient data``: the others. ``rule`` names the rule of a suspect, or
``compressed_scale``, and is empty otherwise. An annotator with both kinds of labels is a suspect
under either, and ``ok`` only under both.

References: Hovy et al. (2013) MACE (the spammer mixture); Dawid & Skene (1979); Müller, Parmigiani,
Robert & Rousseau (2004) JASA 99 (posterior FDR); Benjamini & Hochberg (1995); Hoeffding (1956)
Ann. Math. Statist. 27 (the Poisson-binomial tail).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import factorial
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize, special, stats

from .._util import narrow_ints, normalize_class_major, run_starts
from ..coding import _sorted_codes
from ..errors import UsageError

LEVELS = ("nominal", "ordinal", "interval")
#: Lowest competence an honest annotator has (relative to the crowd's typical response).
THETA_FLOOR = 0.1
#: Share of votes on one value that names a spam annotator's rule ``constant_answering``.
CONSTANT_SHARE = 0.9
#: Bayesian false discovery rate of the suspect verdicts.
FDR = 0.10
#: A suspect's own evidence: the Bayes factor of a bad type against the honest type, whatever the prior.
MIN_BAYES_FACTOR = 10.0
#: ``ok`` needs P(bad type) below this on at least MIN_COMPARED compared votes or rankings.
OK_BELOW, MIN_COMPARED = 0.2, 5
#: ``noisy_ratings`` (continuous labels): noise SD, in consensus units, above this many times the typical rater's.
NOISE_RATIO = 2.0
#: ``compressed_scale`` (continuous labels): slope on the consensus below this share of the typical rater's.
COMPRESSED = 0.5
#: A copier keeps the displayed order in at least this share of their rankings.
COPY_SHARE = 0.5
_GRID = np.round(np.arange(THETA_FLOOR, 1.0001, 0.05), 4)
_MAX_CLASSES, _BINS = 11, 9
VERDICTS = ("ok", "suspect", "insufficient data")
ANNOTATOR_COLUMNS = ["annotator", "n_votes", "reliability", "low", "high", "verdict", "rule", "evidence"]


# --------------------------------------------------------------------------- levels


def infer_level(label: str, values: pd.Series) -> str:
    """The level of measurement a label is read at when none is declared.

    OASST flags are nominal and OASST Likert labels interval (``docs/agreement.md``); text values,
    two-valued labels and integer codes with more than two values are nominal (codes are not
    assumed to be a scale: declare ``ordinal`` or ``interval`` for a scale); other numbers
    (fractions on a grid, continuous ratings) interval.
    """
    from ..schema import label_kind

    kind = label_kind(str(label))
    if kind == "flag":
        return "nominal"
    if kind == "likert":
        return "interval"
    x = _numbers(values.dropna())
    if x is None or np.unique(x).size <= 2:
        return "nominal"
    return "nominal" if np.all(x == np.round(x)) else "interval"


def _numbers(values: pd.Series) -> np.ndarray | None:
    """A label's values as floats when every one is a number, else None. Decided per label: where
    another label has text values the shared column is of object dtype, and its dtype says nothing."""
    kinds = ("integer", "floating", "mixed-integer-float", "decimal")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.infer_dtype(values, skipna=True) in kinds:
        return values.to_numpy(float)
    return None


def levels_for(
    votes: pd.DataFrame, declared: str | Mapping[str, str] | None = None, *, label: str = "label", value: str = "value"
) -> dict[str, str]:
    """Each label's level: ``declared`` (one level for all, or a mapping per label), else inferred."""
    return _levels(votes, declared, votes.groupby(label, sort=True).indices, value)


class Codes(NamedTuple):
    """A votes table's ids coded once, for every step that reads them: items and annotators as
    ``pd.factorize(..., sort=True)`` codes them, and each label's rows (``groupby(label).indices``)."""

    item: np.ndarray
    items: pd.Index
    annotator: np.ndarray
    annotators: pd.Index
    labels: dict

    @classmethod
    def of(cls, votes: pd.DataFrame) -> Codes:
        item, items = _factorize_runs(votes["item"])
        annotator, annotators = pd.factorize(votes["annotator"], sort=True)
        return cls(item, items, annotator, annotators, votes.groupby("label", sort=True).indices)


def _factorize_runs(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(ids, sort=True)`` of an object column whose equal ids come in runs (a votes
    table, message by message): only each run's first id hashed, and distinct strings sorted by
    Python's ``sorted`` (pandas sorts them by numpy's object argsort: the same order, str's, for
    distinct strings). The same codes and ids."""
    values = ids.to_numpy()
    at = run_starts(values) if ids.dtype == object and values.size > 1 else None
    if at is None:  # not objects, one id, or ids that do not compare to a truth value (pd.NA)
        return pd.factorize(ids, sort=True)
    heads = ids.iloc[at]
    if pd.api.types.infer_dtype(heads, skipna=True) != "string":  # numbers, bytes, mixed: pandas' own sort
        codes, uniques = pd.factorize(heads, sort=True)
    else:
        codes, uniques = pd.factorize(heads)
        order = np.array(sorted(range(uniques.size), key=uniques.to_numpy().__getitem__), dtype=np.intp)
        rank = np.empty(order.size, dtype=np.intp)
        rank[order] = np.arange(order.size)
        codes, uniques = np.where(codes >= 0, rank[np.maximum(codes, 0)], codes), uniques[order]
    return np.repeat(codes, np.diff(np.r_[at, values.size])), uniques


def _first_seen_codes(codes: np.ndarray, ids: pd.Index, dtype) -> tuple[np.ndarray, pd.Index]:
    """:func:`_first_seen` of the ids behind ``codes`` (into ``ids``; of ``dtype``), from the codes:
    no string hashed again."""
    first, order = pd.factorize(codes)
    return first, pd.Index(pd.unique(pd.Series(ids[order], dtype=dtype)))


def _levels(
    votes: pd.DataFrame, declared: str | Mapping[str, str] | None, groups: Mapping, value: str
) -> dict[str, str]:
    """:func:`levels_for` with each label's rows given (``groups``: label -> positions, sorted by label)."""
    out = {}
    for name, rows in groups.items():
        values = votes[value].iloc[rows]
        given = declared.get(name) if isinstance(declared, Mapping) else declared
        if given is not None and given not in LEVELS:
            raise UsageError(f"level must be one of {', '.join(LEVELS)}; got {given!r} for label {name!r}")
        out[name] = given or infer_level(name, values)
    return out


# --------------------------------------------------------------------------- votes


def _classes(values: pd.Series, level: str) -> tuple[np.ndarray, np.ndarray]:
    """(class code per vote, class names): ordered for ordinal/interval, binned when too many."""
    x = _numbers(values) if level != "nominal" else None
    raw = values.to_numpy()
    names, code = _sorted_codes(raw)
    if x is not None and (names if raw.dtype == x.dtype else np.unique(x)).size > _MAX_CLASSES:
        edges = np.linspace(x.min(), x.max(), _BINS + 1)
        code = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, _BINS - 1)
        return code, (edges[:-1] + edges[1:]) / 2
    return code, names


def _first_seen(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's code and the ids in order of first appearance (``pd.unique``'s), from one hash
    pass: the codes count the votes per id by bincount instead of a groupby. No id is missing."""
    codes, uniques = pd.factorize(ids)
    # pd.Index(pd.unique(ids)) over the distinct ids: the same dtype (an extension one kept, object inferred)
    return codes, pd.Index(pd.unique(pd.Series(uniques, dtype=ids.dtype)))


def _vote_scores(
    votes: pd.DataFrame,
    levels: dict,
    annotators: pd.Index,
    cols: tuple[str, str, str, str],
    fits: Mapping | None = None,
    ann_all: np.ndarray | None = None,
    codes: Codes | None = None,
) -> list:
    """Per label read as classes: its compared votes (annotator code, class code, the item's
    leave-one-out posterior q), K, whether the scale has a mirror, and the class names.

    ``fits``: per label, a Dawid-Skene fitted already and the votes it was fitted on (coded by
    :func:`oasst_quality.coding.encode`), reused where :func:`_class_model` finds it the same model.
    ``ann_all``: each vote's position in ``annotators``, and ``codes``: the votes' :class:`Codes`,
    where the caller has them."""
    from ..coding import Ratings

    item, annotator, label, value = cols
    # items and annotators coded once over all labels; each label's items keep their order of first appearance
    if codes is None:
        item_all, item_names = pd.factorize(votes[item])
        groups = votes.groupby(label, sort=True).indices
    else:
        first, order = pd.factorize(codes.item)
        item_all, item_names, groups = first, codes.items[order], codes.labels
    ann_all = annotators.get_indexer(votes[annotator]) if ann_all is None else ann_all
    parts = []
    for name in sorted(groups):
        rows = groups[name]
        level = levels[name]
        code, names = _classes(votes[value].iloc[rows], level)
        K = names.size
        if K < 2:
            continue
        item_code, first = pd.factorize(item_all[rows])
        local, ann_code = _held(ann_all[rows], annotators.size)
        c = Ratings(
            np.asarray(item_code),
            ann_code.ravel(),
            np.asarray(code),
            np.arange(K),
            first.size,
            local.size,
            pd.Index(item_names[first]),
            pd.Index(local),
        )
        # c's items as positions in the Codes' sorted ids: _class_model matches a fit's items by them, hashing no id
        sorted_ids = None if codes is None else (order[first], codes.items)
        conf, priors = _class_model(c, annotators[local], names, (fits or {}).get(name), sorted_ids)
        # log P(answer | truth) per (annotator, answer) cell, gathered per vote, class-major: [true k, vote]
        cell_log = np.log(np.maximum(conf.transpose(1, 0, 2), 1e-300)).reshape(K, local.size * K)
        log_conf = np.take(cell_log, c.annotator * K + c.code, axis=1)
        n_item = np.bincount(c.item, minlength=c.n_items)
        keep = n_item[c.item] >= 2
        # leave-one-out posterior of each vote's item under the fitted model: the other votes' likelihoods
        log_item = np.log(np.maximum(priors, 1e-300))[:, None] + np.stack(
            [np.bincount(c.item, log_conf[k], c.n_items) for k in range(K)]
        )
        q = _softmax_classes(np.take(log_item, c.item, axis=1) - log_conf)  # votes x classes, C order
        ann_k, code_k, q_k = local[c.annotator], c.code, q
        if not keep.all():
            ann_k, code_k, q_k = ann_k[keep], code_k[keep], q_k[keep]
        # the votes grouped by (annotator, answer), once: each group's log-likelihood ratios on the
        # whole θ grid are then one small matmul in _loglik (a stable sort of the narrowest keys: by counting)
        key = ann_k * K + code_k
        order_k = np.argsort(narrow_ints(key, annotators.size * K), kind="stable")
        sorted_key = key[order_k]
        new = np.ones(sorted_key.size, dtype=bool)
        new[1:] = sorted_key[1:] != sorted_key[:-1]
        starts = np.flatnonzero(new)  # np.unique(sorted_key, return_index=True), without sorting it again
        cells = sorted_key[starts]
        bounds = np.r_[starts, order_k.size]
        q_sorted = np.take(q_k, order_k, axis=0)
        parts.append(
            {
                "label": name,
                "K": K,
                "mirror": level != "nominal" or K == 2,
                "ann": ann_k,
                "code": code_k,
                "q": q_k,
                "names": names,
                "cells": cells,
                # what _loglik reads on each of its passes: each cell's votes' q, and each annotator's answer counts
                "cell_q": [q_sorted[bounds[j] : bounds[j + 1]] for j in range(cells.size)],
                "counts": np.bincount(key, minlength=annotators.size * K).reshape(annotators.size, K).astype(float),
            }
        )
    return parts


def _softmax_classes(x: np.ndarray) -> np.ndarray:
    """``scipy.special.softmax(x.T, axis=1)`` of class-major ``x`` (classes x votes; overwritten), C order.

    Up to 7 classes class by class (numpy sums a row of fewer than 8 numbers in order, as it adds
    the class rows here): the same values, without numpy's slow reductions over a short inner axis;
    with more, scipy's softmax on the votes x classes array."""
    if x.shape[0] > 7:
        return special.softmax(np.ascontiguousarray(x.T), axis=1)
    return np.ascontiguousarray(normalize_class_major(x)[0].T)


def _held(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` of codes into ``n`` ids, by counting instead of sorting."""
    if not codes.size or codes.min() < 0:
        local, inverse = np.unique(codes, return_inverse=True)
        return local, inverse.ravel()
    held = np.bincount(codes, minlength=n) > 0
    return np.flatnonzero(held), (np.cumsum(held) - 1)[codes]


def _class_model(
    c, names: pd.Index, classes: np.ndarray, fit: tuple | None, sorted_ids: tuple | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(confusions [annotator of ``c``, true k, label], class priors) of the default Dawid-Skene on
    ``c`` (annotators ``names``): ``fit``'s, a (model, its coded votes) pair, where it is that model
    with the default settings on the same votes and ``classes``, its annotators put in ``c``'s order
    (its EM summed in another order: equal within 1e-13 on the bench's sets); else fitted here.
    ``sorted_ids``: (each of ``c.items``' position in ``ids``, ``ids``) where ``c``'s items are some
    of sorted ``ids``: a fit on the same items in sorted order is then matched by position."""
    from .. import aggregation as agg

    if fit is not None:
        model, done = fit
        default = agg.DawidSkene()
        settings = ("n_iter", "tol", "smoothing", "diagonal")
        if (
            type(model) is agg.DawidSkene
            and all(getattr(model, k) == getattr(default, k) for k in settings)
            and np.array_equal(done.values, classes)
            and done.item.size == c.item.size
        ):
            item = _sorted_positions(done.items, sorted_ids)
            item = done.items.get_indexer(c.items) if item is None else item
            who = done.annotators.get_indexer(names)
            if (item >= 0).all() and (who >= 0).all():
                K, A = classes.size, done.n_annotators
                mine = (item[c.item] * A + who[c.annotator]) * K + c.code
                theirs = (done.item * A + done.annotator) * K + done.code
                # the same votes: in the same order where both coded the same rows (the report's), else sorted
                if np.array_equal(mine, theirs) or np.array_equal(np.sort(mine), np.sort(theirs)):
                    return model.confusions_[who], model.priors_.to_numpy()
    model = agg.DawidSkene()
    model._fit(c)
    return model.confusions_, model.priors_.to_numpy()


def _sorted_positions(held: pd.Index, sorted_ids: tuple | None) -> np.ndarray | None:
    """``held.get_indexer(ids[at])`` where ``held`` is the ids at some of the positions of ``ids``
    (``sorted_ids``: ``(at, ids)``), in their order, and holds each of ``at``'s: from the positions,
    the ids compared once in order (the same objects, where both come from one coding); else None."""
    if sorted_ids is None:
        return None
    at, ids = sorted_ids
    if at.size and (at.min() < 0 or at.max() >= len(ids)):
        return None
    mask = np.zeros(len(ids), dtype=bool)
    mask[at] = True
    if int(mask.sum()) != len(held) or not held.equals(ids[mask]):
        return None
    return (np.cumsum(mask) - 1)[at]


def _loglik(
    parts: list, A: int, honest_w: np.ndarray, constant: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Per annotator, log-likelihood ratios against the spam type (answers at the annotator's own
    shares ξ whatever the item): honest and reversed on the θ grid; the compared votes; and per
    (annotator, label) the constant-answering test's inputs (only if ``constant``, else empty)."""
    G = _GRID.size
    ll_h, ll_r = np.zeros((A, G)), np.zeros((A, G))
    n = np.zeros(A, dtype=np.int64)
    const = []
    for p in parts:
        K, ann, code, q = p["K"], p["ann"], p["code"], p["q"]
        if not ann.size:
            continue
        w = honest_w[ann]
        # the crowd's typical response to the truth, from the honest annotators' votes, and its
        # lift over the answer shares it implies: how much more likely each answer is under each truth
        qw = q * w[:, None]
        C = qw.T @ np.take(np.eye(K), code, axis=0) + 1e-3
        C /= C.sum(axis=1, keepdims=True)
        # Σ over the votes, vote after vote, as qw.sum(axis=0) adds them (numpy's einsum without its slow short rows)
        truth = np.einsum("vk->k", qw) / max(w.sum(), 1e-12)
        m = truth @ C
        lift = C / m[None, :]
        counts = p["counts"]  # [a, l]: the annotator's answers
        n_a = counts.sum(axis=1)
        s = _bias_strength(counts[n_a > 0], m)
        xi = (counts + s * m) / (n_a[:, None] + s)  # own answer shares, shrunk to the crowd's
        # L[k, l]^θ on the grid, honest then reversed: [type·θ, k, l]
        lifts = [lift, lift[::-1]] if p["mirror"] else [lift]
        Lt = np.concatenate([L[None] ** _GRID[:, None, None] for L in lifts])
        Z = np.einsum("al,tkl->tak", xi, Lt)  # Σ_l ξ(l) L[k, l]^θ per annotator
        # a vote (a, l) scores log Σ_k q(k) L[k, l]^θ / Z[a, k]: per (annotator, answer) cell, q @ M
        cell_a, cell_l = np.divmod(p["cells"], K)
        M = Lt[:, :, cell_l].transpose(2, 1, 0) / Z[:, cell_a, :].transpose(1, 2, 0)  # [cell, k, type·θ]
        # each cell's Σ over its votes, vote after vote as .sum(axis=0) adds them (einsum: no slow short rows)
        ll = np.stack([np.einsum("vt->t", np.log(x @ M[j])) for j, x in enumerate(p["cell_q"])])
        out = np.zeros((A, Lt.shape[0]))
        np.add.at(out, cell_a, ll)
        ll_h += out[:, :G]
        if p["mirror"]:
            ll_r += out[:, G:]
        n += n_a.astype(np.int64)
        if not constant:
            continue
        # constant answering: the annotator's most frequent answer against the rate at which the
        # crowd's typical annotator gives it on the same items (θ = 1) or regardless of them (θ = 0)
        present = np.flatnonzero(n_a)
        by = sp.csr_matrix((np.ones(ann.size), (ann, np.arange(ann.size))), shape=(A, ann.size))
        top = counts[present].argmax(axis=1)
        # (or a perfect one, answering the truth: an annotator better than the typical may see only one class)
        typical = by @ (q @ C)  # [a, l]: Σ over the annotator's votes of P(l) under the typical response
        perfect = by @ q
        rate = np.maximum(np.maximum(typical[present, top], perfect[present, top]) / n_a[present], m[top])
        k = counts[present, top]
        const.append(
            pd.DataFrame(
                {
                    "a": present,
                    "label": p["label"],
                    "value": p["names"][top],
                    "k": k.astype(int),
                    "n": n_a[present].astype(int),
                    "rate": rate,
                    "p": stats.binom.sf(k - 1, n_a[present], rate),
                }
            )
        )
    return ll_h, ll_r, n, pd.concat(const, ignore_index=True) if const else pd.DataFrame()


def _bias_strength(counts: np.ndarray, m: np.ndarray) -> float:
    """The concentration s of a Dirichlet(s m) over the annotators' own answer shares, by maximum
    marginal likelihood of their answer counts (Dirichlet-multinomial; empirical Bayes): large when
    the annotators' shares differ by sampling noise alone, small when each has a bias of their own."""
    n = counts.sum(axis=1)

    def minus_loglik(log_s: float) -> float:
        s = np.exp(log_s)
        return -float(
            (
                special.gammaln(s)
                - special.gammaln(n + s)
                + (special.gammaln(counts + s * m) - special.gammaln(s * m)).sum(axis=1)
            ).sum()
        )

    return float(np.exp(optimize.minimize_scalar(minus_loglik, bounds=(0.0, np.log(1e4)), method="bounded").x))


def _beta_weights(a: float, b: float) -> np.ndarray:
    """A Beta(a, b) density on the θ grid (rescaled to (0, 1)), normalised to sum to 1."""
    u = (np.arange(_GRID.size) + 0.5) / _GRID.size
    logw = stats.beta.logpdf(u, a, b)
    w = np.exp(logw - logw.max())
    return w / w.sum()


def _mixture(
    ll_s: np.ndarray, ll_h: np.ndarray, ll_r: np.ndarray, n_iter: int = 500
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior over (spam, honest grid, reversed grid) per annotator, by EM over the prior; the
    log Bayes factor of the likelier bad type (spam or reversed) against the honest type; and the
    posterior for reporting θ: the fitted type weights with a flat prior over θ within each type, so
    that an annotator's interval shows what their own votes say (the fitted shape can be nearly a
    point when the crowd's annotators look alike, and would print [1.00, 1.00] after 18 votes).

    The prior: type weights (each at least 1e-4) and one Beta shape over θ shared by the honest
    and the reversed types (its M-step by the method of moments). A smooth shape, not free weights
    per grid point: free weights put mass at the lowest θ to absorb spammers, and spam could no
    longer be told apart.
    """
    ll = np.column_stack([ll_s, ll_h, ll_r])
    like = np.exp(ll - ll.max(axis=1, keepdims=True))
    G = _GRID.size
    u = (np.arange(G) + 0.5) / G
    pi = np.array([0.05, 0.9, 0.05])
    a, b = 2.0, 1.0
    last = -np.inf
    for _ in range(n_iter):
        shape = _beta_weights(a, b)
        joint = like * np.r_[pi[0], pi[1] * shape, pi[2] * shape]
        total = joint.sum(axis=1, keepdims=True)
        post = joint / total
        value = float(np.log(total).sum())
        if value - last < 1e-9 * max(1.0, abs(value)):
            break
        last = value
        pi = np.maximum(
            np.array([post[:, 0].mean(), post[:, 1 : 1 + G].sum(1).mean(), post[:, 1 + G :].sum(1).mean()]), 1e-4
        )
        pi /= pi.sum()
        counts = post[:, 1 : 1 + G].sum(0) + post[:, 1 + G :].sum(0)
        m = (counts * u).sum() / counts.sum()
        var = max((counts * (u - m) ** 2).sum() / counts.sum(), 1e-4)
        common = min(max(m * (1 - m) / var - 1, 0.5), 500.0)
        a, b = max(m * common, 0.05), max((1 - m) * common, 0.05)
    # the evidence of a bad type against the honest one, whatever the prior weights of the types
    log_shape = np.log(np.maximum(_beta_weights(a, b), 1e-300))
    log_h = special.logsumexp(ll_h + log_shape, axis=1)
    log_bad = np.maximum(ll_s, special.logsumexp(ll_r + log_shape, axis=1))
    own = like * np.r_[pi[0], np.full(G, pi[1] / G), np.full(G, pi[2] / G)]
    return post, log_bad - log_h, own / own.sum(axis=1, keepdims=True)


def _posterior_summary(
    post: np.ndarray, support: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean and equal-tailed interval of a discrete posterior on ``support`` (sorted)."""
    order = np.argsort(support, kind="stable")
    s, p = support[order], post[:, order]
    cdf = np.cumsum(p, axis=1)
    tail = (1 - confidence) / 2
    low = s[np.minimum((cdf < tail - 1e-12).sum(axis=1), s.size - 1)]
    high = s[np.minimum((cdf < 1 - tail - 1e-12).sum(axis=1), s.size - 1)]
    return p @ s, low, high


def _bayes_fdr(p_bad: np.ndarray, fdr: float) -> np.ndarray:
    """The largest set, by decreasing P(bad), whose mean P(good) is at most ``fdr`` (and P(bad) > 0.5)."""
    order = np.argsort(-p_bad, kind="stable")
    running = np.cumsum(1 - p_bad[order]) / np.arange(1, p_bad.size + 1)
    ok = np.flatnonzero((running <= fdr) & (p_bad[order] > 0.5))
    chosen = np.zeros(p_bad.size, dtype=bool)
    if ok.size:
        chosen[order[: ok.max() + 1]] = True
    return chosen


def _class_verdicts(
    df: pd.DataFrame,
    lv: dict,
    fdr: float,
    min_bayes_factor: float,
    cols: tuple,
    fits: Mapping | None = None,
    codes: Codes | None = None,
    seen: tuple | None = None,
) -> pd.DataFrame:
    """The mixture of annotator types on the labels read as classes: one row per annotator of ``df``
    (``codes``: its :class:`Codes`, and ``seen``: its annotators' :func:`_first_seen`, where the caller has them)."""
    annotator = cols[1]
    ann_code, annotators = _first_seen(df[annotator]) if seen is None else seen
    A = annotators.size
    parts = _vote_scores(df, lv, annotators, cols, fits, ann_code, codes)
    G = _GRID.size
    support = np.r_[0.0, _GRID, -_GRID]
    honest = np.ones(A)
    for i in range(3):  # the crowd's typical response is fitted on the annotators who look honest
        ll_h, ll_r, n, const = _loglik(parts, A, honest, constant=i == 2)
        post, log_bf, own = _mixture(np.zeros(A), ll_h, ll_r)
        honest = post[:, 1 : 1 + G].sum(axis=1)
    p_spam, p_rev = post[:, 0], post[:, 1 + G :].sum(axis=1)
    rel, low, high = _posterior_summary(own, support)
    p_bad = p_spam + p_rev
    suspect = _bayes_fdr(p_bad, fdr) & (log_bf >= np.log(min_bayes_factor))
    n_votes = np.bincount(ann_code, minlength=A)
    # constant answering: per annotator the label with the smallest P, Bonferroni over their labels,
    # then Benjamini-Hochberg over all annotators; only where one value takes CONSTANT_SHARE of the votes
    columns = ["label", "value", "k", "n", "rate", "p", "share"]
    if len(const):
        const = _strongest_constant(const, "a", "n").reindex(np.arange(A))[columns]
    else:  # NaN rows for annotators without a test
        const = pd.DataFrame(np.nan, index=np.arange(A), columns=columns)
    share = const["share"].to_numpy(float)
    # ... and the answers do not depend on the item: the honest type is not MIN_BAYES_FACTOR times more likely
    constant = (
        _bh(const["p"].fillna(1.0).to_numpy(float), fdr)
        & (np.nan_to_num(share) >= CONSTANT_SHARE)
        & (log_bf > -np.log(min_bayes_factor))
    )
    rule = np.where(
        constant | (suspect & (np.nan_to_num(share) >= CONSTANT_SHARE)),
        "constant_answering",
        # reversed only where the evidence prefers it clearly (a spammer may disagree by chance)
        np.where(p_rev >= 3 * p_spam, "reversed_scale", "random_answering"),
    )
    suspect |= constant
    # a constant answerer's answers cannot show how they depend on the item: no reliability to report
    is_const = suspect & (rule == "constant_answering")
    rel, low, high = (np.where(is_const, np.nan, x) for x in (rel, low, high))
    evidence = []
    for i in range(A):
        head = f"n = {int(n[i])} compared votes of {int(n_votes[i])}; "
        if is_const[i]:
            evidence.append(head + _constant_text(const.iloc[i], "the crowd's typical annotator gives"))
            continue
        what = f"P(reverses the scale) = {p_rev[i]:.2f}" if rule[i] == "reversed_scale" else ""
        what = what or f"P(answers regardless of the item) = {p_spam[i]:.2f}"
        evidence.append(head + f"reliability {rel[i]:.2f} [{low[i]:.2f}, {high[i]:.2f}]; {what}")
    return pd.DataFrame(
        {
            "annotator": annotators,
            "n_votes": n_votes.astype(int),
            "n_compared": n.astype(int),
            "reliability": rel,
            "low": low,
            "high": high,
            "p_spam": p_spam,
            "p_reversed": p_rev,
            "suspect": suspect,
            "ok": ~suspect & (p_bad < OK_BELOW) & (log_bf < 0) & (n >= MIN_COMPARED),
            "rule": np.where(suspect, rule, ""),
            "evidence": evidence,
        }
    )


def _strongest_constant(const: pd.DataFrame, by: str, n: str) -> pd.DataFrame:
    """Per ``by`` (the annotator), the label whose constant test (its ``k`` of ``n`` votes on one value,
    and their ``p``) has the smallest P, Bonferroni over the annotator's labels; ties go to the larger
    share. Only a label where one value takes CONSTANT_SHARE can show constant answering (P = 1 elsewhere)."""
    share = const["k"] / const[n]
    labels = const.groupby(by)[by].transform("size")
    p = np.where(share >= CONSTANT_SHARE, np.minimum(const["p"] * labels, 1.0), 1.0)
    const = const.assign(share=share, p=p)
    return const.sort_values(["p", "share"], ascending=[True, False], kind="stable").drop_duplicates(by).set_index(by)


def _constant_text(row: pd.Series, null: str) -> str:
    """The constant rule's evidence: the share, what ``null`` (a verb phrase) would give, and P."""
    value = f"{row['value']:g}" if isinstance(row["value"], (float, np.floating)) else row["value"]
    return (
        f"{row['k']:.0f} of {row['n']:.0f} {row['label']} votes are {value}, where {null} it at rate "
        f"{row['rate']:.2f} on those items (P = {row['p']:.2g}); reliability not measurable"
    )


def _noise_fit(sub: pd.DataFrame, cols: tuple) -> pd.DataFrame:
    """Per annotator on one continuous label: the noise-scale model x = a_j + β_j μ_i + e, e ~ N(0, s_j²),
    fitted against each rating's leave-one-out consensus μ (the other raters' ratings on the item,
    each brought onto the consensus scale, (x − a_k) / β_k, and weighted by its precision β_k² / s_k²);
    and the constant test's inputs (the others' share of the annotator's most frequent value)."""
    item, annotator, value = cols[0], cols[1], cols[3]
    i_code, _ = pd.factorize(sub[item])
    a_code, names = pd.factorize(sub[annotator])
    x = sub[value].to_numpy(float)
    n_i = np.bincount(i_code)
    keep = n_i[i_code] >= 2
    if not keep.any():
        return pd.DataFrame()
    i_code, a_code, x = i_code[keep], a_code[keep], x[keep]
    A, n_items = names.size, n_i.size
    a, beta, w = np.zeros(A), np.ones(A), np.ones(A)
    floor = 1e-9 * max(float(np.var(x)), 1e-12)
    for _ in range(3):
        on_scale = np.where(beta[a_code] > 0, (x - a[a_code]) / np.where(beta[a_code] > 0, beta[a_code], 1), 0.0)
        wv = w[a_code]
        others = np.bincount(i_code, wv, n_items)[i_code] - wv
        has = others > 0
        mu = (np.bincount(i_code, wv * on_scale, n_items)[i_code] - wv * on_scale) / np.where(has, others, 1)
        j, xm, mm = a_code[has], x[has], mu[has]
        n = np.bincount(j, minlength=A).astype(float)
        safe = np.maximum(n, 1)
        mx, mmu = np.bincount(j, xm, A) / safe, np.bincount(j, mm, A) / safe
        var_x = np.maximum(np.bincount(j, xm * xm, A) / safe - mx**2, 0)
        var_m = np.maximum(np.bincount(j, mm * mm, A) / safe - mmu**2, 0)
        cov = np.bincount(j, xm * mm, A) / safe - mx * mmu
        beta = np.where(var_m > floor, cov / np.maximum(var_m, floor), 0.0)
        a = mx - beta * mmu
        s2 = np.maximum(var_x - beta * cov, 0) * n / np.maximum(n - 2, 1)
        w = np.maximum(beta, 0) ** 2 / np.maximum(s2, floor)
        w = w / w.max() if w.max() > 0 else np.ones(A)
    r = np.where((var_x > floor) & (var_m > floor), cov / np.sqrt(np.maximum(var_x * var_m, floor**2)), np.nan)
    se = np.sqrt(s2 / np.maximum(n * var_m, floor))
    # the most frequent value, and how often the other raters give it on the same items
    vals, v_code = np.unique(x, return_inverse=True)
    key, cnt = np.unique(a_code.astype(np.int64) * vals.size + v_code, return_counts=True)
    who, what = key // vals.size, key % vals.size
    first = np.lexsort((what, -cnt, who))  # per annotator: the largest count, then the lowest value
    top = np.zeros(A, dtype=np.int64)
    top[who[first][::-1]] = what[first][::-1]  # the first row of each annotator wins
    hit = (v_code == top[a_code]).astype(float)
    cells = sp.csr_matrix((np.ones(x.size), (i_code, v_code)), shape=(n_items, vals.size))  # votes per (item, value)
    others_same = np.asarray(cells[i_code, top[a_code]]).ravel() - hit  # the others' votes equal to it
    same = np.bincount(a_code, others_same, A)
    seen = np.bincount(a_code, np.bincount(i_code, minlength=n_items)[i_code] - 1.0, A)  # the others' votes there
    overall = np.bincount(v_code, minlength=vals.size)[top] / max(x.size, 1)
    return pd.DataFrame(
        {
            "annotator": names,
            "n": n.astype(int),
            "r": r,
            "slope": beta,
            "se": se,
            "value": vals[top],
            "k": np.bincount(a_code, hit, A).astype(int),
            "n_all": np.bincount(a_code, minlength=A),
            "rate": np.maximum(np.where(seen > 0, same / np.maximum(seen, 1), 0), overall),
        }
    )


def _noise_verdicts(df: pd.DataFrame, labels: list, fdr: float, cols: tuple) -> pd.DataFrame:
    """The noise-scale rules on the continuous labels: one row per annotator who rated one of them."""
    label = cols[2]
    fits = []
    for name in labels:
        fit = _noise_fit(df[df[label] == name], cols)
        if fit.empty:
            continue
        ok = fit["n"] >= MIN_COMPARED
        typical = fit[ok] if ok.any() else fit
        r0, b0 = float(typical["r"].median()), float(typical["slope"].median())
        if not (np.isfinite(r0) and r0 > 0):
            continue
        z, se_z = np.arctanh(fit["r"].clip(-0.9999, 0.9999)), 1 / np.sqrt(np.maximum(fit["n"] - 3, 1))
        # noise in consensus units, (s / β)², is proportional to 1 / r² − 1: NOISE_RATIO times the
        # typical rater's noise SD is a correlation of r_noisy
        r_noisy = 1 / np.sqrt(1 + NOISE_RATIO**2 * (1 / r0**2 - 1))
        testable = (fit["n"] >= 4) & fit["r"].notna()
        fits.append(
            fit.assign(
                label=name,
                r0=r0,
                b0=b0,
                reliability=fit["r"] / r0,
                low=np.tanh(z - 1.96 * se_z) / r0,
                high=np.tanh(z + 1.96 * se_z) / r0,
                p_reversed=np.where(testable, stats.norm.cdf(z / se_z), 1.0),
                p_noisy=np.where(testable, stats.norm.cdf((z - np.arctanh(r_noisy)) / se_z), 1.0),
                p_compressed=np.where(
                    testable & (fit["se"] > 0),
                    stats.t.cdf((fit["slope"] - COMPRESSED * b0) / fit["se"], np.maximum(fit["n"] - 2, 1)),
                    1.0,
                ),
                p=stats.binom.sf(fit["k"] - 1, fit["n_all"], fit["rate"]),
            )
        )
    if not fits:
        return pd.DataFrame()
    t = pd.concat(fits, ignore_index=True)
    # per annotator and rule, the label with the smallest P (Bonferroni over their continuous labels);
    # Benjamini-Hochberg over the annotators, rule by rule
    n_labels = t.groupby("annotator")["label"].transform("size")
    best = {"p": _strongest_constant(t, "annotator", "n_all")}  # as for class labels
    t["p_compressed"] = np.where(t["low"] > 0, t["p_compressed"], 1.0)  # compressed: still following the items
    for col in ("p_reversed", "p_noisy", "p_compressed"):
        t[col] = np.minimum(t[col] * n_labels, 1.0)
        b = t.sort_values(col, kind="stable").drop_duplicates("annotator").set_index("annotator")
        best[col] = b
    who = pd.Index(pd.unique(t["annotator"]))
    hit = {col: pd.Series(_bh(b[col].reindex(who).to_numpy(float), fdr), index=who) for col, b in best.items()}
    # without a rule, the figures of the annotator's label with the most compared ratings
    main = t.sort_values("n", ascending=False, kind="stable").drop_duplicates("annotator").set_index("annotator")
    main = main.reindex(who)
    n_compared = t.groupby("annotator")["n"].sum().reindex(who)
    rows = []
    for a in who:
        rule, c, what = "", main.loc[a], ""
        if hit["p"][a]:
            rule, c = "constant_answering", best["p"].loc[a]
        elif hit["p_reversed"][a]:
            rule, c = "reversed_scale", best["p_reversed"].loc[a]
            what = f"; P(correlation >= 0) = {c['p_reversed']:.2g}"
        elif hit["p_noisy"][a]:
            c = best["p_noisy"].loc[a]
            # named by where the reliability's interval lies: above 0, below 0, or across it
            rule = "noisy_ratings" if c["low"] > 0 else "reversed_scale" if c["high"] < 0 else "random_answering"
            what = f"; P(noise SD at most {NOISE_RATIO:g}x the typical rater's) = {c['p_noisy']:.2g}"
        elif hit["p_compressed"][a]:
            rule, c = "compressed_scale", best["p_compressed"].loc[a]
            what = f"; P(slope at least {COMPRESSED:g}x the typical) = {c['p_compressed']:.2g}"
        if rule == "constant_answering":
            text = f"on {c['label']}: n = {int(c['n_all'])} ratings; " + _constant_text(
                c.rename({"n_all": "n", "n": "n_compared"}), "the other raters give"
            )
            rows.append((a, int(n_compared[a]), np.nan, np.nan, np.nan, rule, text))
            continue
        text = (
            f"on {c['label']}: n = {int(c['n'])} compared ratings; reliability {c['reliability']:.2f} "
            f"[{c['low']:.2f}, {c['high']:.2f}] (correlation with the others' consensus {c['r']:.2f} against the "
            f"crowd's median {c['r0']:.2f}; slope {c['slope']:.2f} against {c['b0']:.2f}){what}"
        )
        rows.append((a, int(n_compared[a]), c["reliability"], c["low"], c["high"], rule, text))
    out = pd.DataFrame(rows, columns=["annotator", "n_compared", "reliability", "low", "high", "rule", "evidence"])
    # a compressed scale keeps the ratings' information (their correlation): a pattern to rescale, not a fault
    out["suspect"] = ~out["rule"].isin(["", "compressed_scale"])
    out["ok"] = ~out["suspect"] & (out["n_compared"] >= MIN_COMPARED) & (out["low"] > THETA_FLOOR)
    return out


def vote_verdicts(
    votes: pd.DataFrame,
    *,
    levels: str | Mapping[str, str] | None = None,
    fdr: float = FDR,
    min_bayes_factor: float = MIN_BAYES_FACTOR,
    item: str = "item",
    annotator: str = "annotator",
    label: str | None = "label",
    value: str = "value",
    fits: Mapping[str, tuple] | None = None,
    codes: Codes | None = None,
) -> pd.DataFrame:
    """One row per annotator of ``votes``: reliability with its interval, verdict, rule and evidence.

    ``votes``: a long table (``item, annotator, label, value``; ``label`` may be absent, or
    ``None``, for one label; rows with a ``count`` other than 1 are published means and are left
    out). ``levels``: one level for every label or a mapping label -> level (else inferred).
    Columns: ``annotator, n_votes, n_compared, reliability, low, high, p_spam, p_reversed,
    verdict, rule, evidence`` (see the module's docstring). ``fits``: per label, a default
    :class:`~oasst_quality.aggregation.DawidSkene` fitted already and the
    :class:`~oasst_quality.coding.Ratings` it was fitted on, reused where they are the label's votes.
    ``codes``: the :class:`Codes` of ``votes`` (columns of the default names), where the caller has
    them; used where every row is a single vote with a value.
    """
    if not 0 < fdr < 1:
        raise UsageError(f"fdr must lie in (0, 1), got {fdr!r}")
    from .._util import require_columns

    df = votes
    if label is None or label not in df.columns:
        df = df.assign(**{"label": "default_label"})
        label = "label"
    require_columns(df, item, annotator, value)
    if (item, annotator, label, value) != ("item", "annotator", "label", "value") or df is not votes:
        codes = None
    known = df[annotator].notna() if codes is None else codes.annotator >= 0  # factorize's -1: a missing id
    keep = known & df[value].notna()
    if "count" in df.columns:
        keep &= df["count"].fillna(1) == 1
    if not keep.all():
        df, codes = df[keep], None  # no copy of the votes when every row is kept
    columns = [
        *ANNOTATOR_COLUMNS[:2],
        "n_compared",
        *ANNOTATOR_COLUMNS[2:5],
        "p_spam",
        "p_reversed",
        *ANNOTATOR_COLUMNS[5:],
    ]
    if df.empty:
        return pd.DataFrame(columns=columns)
    groups = df.groupby(label, sort=True).indices if codes is None else codes.labels
    lv = _levels(df, levels, groups, value)
    cols = (item, annotator, label, value)
    continuous = [
        name
        for name, rows in groups.items()
        if lv[name] == "interval"
        and _numbers(values := df[value].iloc[rows]) is not None
        and values.nunique() > _MAX_CLASSES
    ]
    in_cont = np.zeros(len(df), dtype=bool)
    for name in continuous:
        in_cont[groups[name]] = True
    seen = (
        _first_seen(df[annotator])
        if codes is None
        else _first_seen_codes(codes.annotator, codes.annotators, df[annotator].dtype)
    )
    parts = []
    if (~in_cont).any():
        both = not in_cont.any()  # every label read as classes: the codes and annotators are the table's
        classes = df if both else df[~in_cont]
        parts.append(
            _class_verdicts(
                classes, lv, fdr, min_bayes_factor, cols, fits, codes if both else None, seen if both else None
            ).assign(source=0)
        )
    if in_cont.any():
        parts.append(_noise_verdicts(df[in_cont], continuous, fdr, cols).assign(source=1))
    kept = [x for x in parts if len(x)]
    both = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=["annotator", "suspect", "source"])
    # an annotator with both kinds of labels: suspect under either; the class model's figures first
    both = both.sort_values(["suspect", "source"], ascending=[False, True], kind="stable")
    first = both.drop_duplicates("annotator").set_index("annotator")
    grouped = both.groupby("annotator", sort=False)
    ann_code, annotators = seen
    first = first.reindex(annotators)

    def per(column: str, how) -> pd.Series:
        return (grouped[column].agg(how) if column in both else pd.Series(dtype=object)).reindex(annotators)

    suspect = per("suspect", "any").fillna(False).to_numpy(bool)
    ok = per("ok", "all").fillna(False).to_numpy(bool) & ~suspect
    out = pd.DataFrame(
        {
            "annotator": annotators,
            "n_votes": np.bincount(ann_code, minlength=annotators.size),
            "n_compared": per("n_compared", "sum").fillna(0).to_numpy(int),
            "reliability": first.get("reliability", pd.Series(np.nan, index=annotators)).to_numpy(float),
            "low": first.get("low", pd.Series(np.nan, index=annotators)).to_numpy(float),
            "high": first.get("high", pd.Series(np.nan, index=annotators)).to_numpy(float),
            "p_spam": first.get("p_spam", pd.Series(np.nan, index=annotators)).to_numpy(float),
            "p_reversed": first.get("p_reversed", pd.Series(np.nan, index=annotators)).to_numpy(float),
            "verdict": np.where(suspect, "suspect", np.where(ok, "ok", "insufficient data")),
            "rule": per("rule", lambda r: next((x for x in r if x), "")).fillna("").to_numpy(object),
            "evidence": per("evidence", " | ".join)
            .fillna("not scored: no one else rated the same items, or the label's raters do not agree at all")
            .to_numpy(object),
        }
    )
    return out[columns]


# --------------------------------------------------------------------------- rankings

RANKER_COLUMNS = [
    "annotator",
    "n_rankings",
    "n_compared",
    "reliability",
    "low",
    "high",
    "p_chance",
    "p_reversed",
    "verdict",
    "rule",
    "evidence",
]


def ranking_scores(rankings: pd.DataFrame, *, group: str = "group", ranking: str = "ranking") -> pd.DataFrame:
    """Per ranking: S (agreements minus disagreements with the other rankings' pairwise majority on the
    pairs both order), its null variance under random ordering, and the number of compared pairs.

    Replies a ranking does not name make no comparison; a pair the others tie is left out; no
    ordering of ids enters (see the module's docstring). Columns ``s, var0, n_pairs, k`` (k: replies named).
    """
    n = len(rankings)
    out = pd.DataFrame(
        {
            "s": np.zeros(n),
            "var0": np.zeros(n),
            "n_pairs": np.zeros(n, dtype=np.int64),
            "k": np.zeros(n, dtype=np.int64),
        }
    )
    if not n:
        return out
    from ..consensus import _entry_pairs, _reply_codes

    rows, g_code, cand, lvls, sizes = _reply_codes(rankings, group, ranking)[:5]
    out["k"] = np.bincount(rows, minlength=n)
    width = max(int(sizes.max(initial=0)), 1)
    _, last = np.unique((rows * width + cand)[::-1], return_index=True)
    keep = np.sort(rows.size - 1 - last)  # a reply a ranking names twice keeps its last level
    rows, cand, lvls = rows[keep], cand[keep], lvls[keep]
    first, second = _entry_pairs(rows, cand, n)
    row, x, y = rows[first], cand[first], cand[second]
    p = np.sign(lvls[second] - lvls[first])  # +1 where the ranking puts x above y
    pair = np.unique((g_code[row] * width + x) * width + y, return_inverse=True)[1].ravel()
    w = np.sign(np.bincount(pair, p)[pair] - p)  # the sign of the other rankings' margin of x over y
    reply, net = np.unique(np.concatenate([row * width + x, row * width + y]), return_inverse=True)
    net = np.bincount(net.ravel(), np.concatenate([w, -w]))  # a named reply's row sum of the others' signs
    out["s"] = np.bincount(row, p * w, n)
    out["var0"] = (np.bincount(row, w * w, n) + np.bincount(reply // width, net * net, n)) / 3
    out["n_pairs"] = np.bincount(row, (w != 0) & (p != 0), n).astype(np.int64)
    return out


def _normal_mixture(beta: np.ndarray, se: np.ndarray, n_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """EM for β ~ π0 δ0 + π1 N(μ, τ²) + π2 N(−μ, τ²), observed with error se: (posteriors, log Bayes
    factor of the likelier bad type against honest)."""
    pi = np.array([0.05, 0.9, 0.05])
    mu, tau2 = max(float(np.median(beta)), 0.1), max(float(np.var(beta)), 1e-3)
    last = -np.inf
    for _ in range(n_iter):
        v = tau2 + se**2
        ll = np.column_stack(
            [
                stats.norm.logpdf(beta, 0, se),
                stats.norm.logpdf(beta, mu, np.sqrt(v)),
                stats.norm.logpdf(beta, -mu, np.sqrt(v)),
            ]
        )
        joint = np.exp(ll - ll.max(axis=1, keepdims=True)) * pi
        total = joint.sum(axis=1, keepdims=True)
        post = joint / total
        value = float((np.log(total).ravel() + ll.max(axis=1)).sum())
        if value - last < 1e-9 * max(1.0, abs(value)):
            break
        last = value
        pi = np.maximum(post.mean(axis=0), 1e-4)
        pi /= pi.sum()
        # μ and τ² from the honest and (mirrored) reversed members, weighted by precision
        wt = (post[:, 1] + post[:, 2]) / v
        mu = max(float((wt * np.where(post[:, 2] > post[:, 1], -beta, beta)).sum() / wt.sum()), 0.05)
        resid = np.where(post[:, 2] > post[:, 1], -beta, beta) - mu
        tau2 = max(
            float(((post[:, 1] + post[:, 2]) * (resid**2 - se**2)).sum() / (post[:, 1] + post[:, 2]).sum()), 1e-4
        )
    log_bad = np.maximum(ll[:, 0], ll[:, 2])  # the likelier bad type, as for votes
    return post, log_bad - ll[:, 1]


def _copy_pvalues(k: np.ndarray, matched: np.ndarray, who: np.ndarray) -> pd.DataFrame:
    """Per ranker: rankings, matches of the displayed order, and the exact P(at least that many) when
    each ranking of k replies matches with probability 1/k! (a random display)."""
    frame = pd.DataFrame({"who": who, "k": k, "m": matched.astype(int)})
    frame = frame[frame["k"] >= 2]
    rows = []
    for a, sub in frame.groupby("who", sort=False):  # one small convolution per ranker
        pmf = np.ones(1)
        for kk, n_k in sub["k"].value_counts().items():
            pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n_k + 1), n_k, 1 / factorial(int(kk))))
        x = int(sub["m"].sum())
        rows.append((a, len(sub), x, float(pmf[x:].sum())))
    return pd.DataFrame(rows, columns=["annotator", "n", "matched", "p"])


def _bh(p: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg rejections at level q."""
    if not p.size:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    ok = np.flatnonzero(p[order] <= q * np.arange(1, p.size + 1) / p.size)
    out = np.zeros(p.size, dtype=bool)
    if ok.size:
        out[order[: ok.max() + 1]] = True
    return out


def ranking_verdicts(
    rankings: pd.DataFrame,
    *,
    fdr: float = FDR,
    min_bayes_factor: float = MIN_BAYES_FACTOR,
    group: str = "group",
    annotator: str = "annotator",
    ranking: str = "ranking",
) -> pd.DataFrame:
    """One row per ranker: agreement with the others (β) with its interval, verdict, rule and evidence.

    Rules: ``rankings_at_chance``, ``reversed_rankings`` (the normal mixture of the module's
    docstring), ``copies_displayed_order`` (needs an ``as_displayed`` column). Columns: ``annotator,
    n_rankings, n_compared, reliability, low, high, p_chance, p_reversed, verdict, rule, evidence``.
    """
    if not 0 < fdr < 1:
        raise UsageError(f"fdr must lie in (0, 1), got {fdr!r}")
    table = rankings[rankings[annotator].notna()].reset_index(drop=True)
    if table.empty:
        return pd.DataFrame(columns=RANKER_COLUMNS)
    sc = ranking_scores(table, group=group, ranking=ranking)
    who = table[annotator].to_numpy()
    per = (
        sc.assign(a=who, used=(sc["var0"] > 0).astype(int))
        .groupby("a", sort=False)
        .agg(s=("s", "sum"), v=("var0", "sum"), m=("n_pairs", "sum"), used=("used", "sum"), n=("s", "size"))
    )
    compared = per[per["v"] > 0]
    beta = (compared["s"] / compared["m"].clip(lower=1)).to_numpy()
    se = (np.sqrt(compared["v"]) / compared["m"].clip(lower=1)).to_numpy()
    out = pd.DataFrame(
        {"annotator": per.index, "n_rankings": per["n"].to_numpy(), "n_compared": per["used"].to_numpy()}
    )
    out["reliability"], out["low"], out["high"] = np.nan, np.nan, np.nan
    out["p_chance"], out["p_reversed"], log_bf = np.nan, np.nan, np.full(len(out), -np.inf)
    idx = out.index[per["v"].to_numpy() > 0]
    suspect = np.zeros(len(out), dtype=bool)
    rule = np.full(len(out), "", dtype=object)
    if idx.size:
        post, lbf = _normal_mixture(beta, se)
        out.loc[idx, "reliability"] = beta
        out.loc[idx, "low"] = np.clip(beta - 1.96 * se, -1, 1)
        out.loc[idx, "high"] = np.clip(beta + 1.96 * se, -1, 1)
        out.loc[idx, "p_chance"], out.loc[idx, "p_reversed"] = post[:, 0], post[:, 2]
        log_bf[idx] = lbf
        p_bad = post[:, 0] + post[:, 2]
        chosen = _bayes_fdr(p_bad, fdr) & (lbf >= np.log(min_bayes_factor))
        suspect[idx] = chosen
        rule[idx] = np.where(post[:, 2] > post[:, 0], "reversed_rankings", "rankings_at_chance")
    evidence = [
        f"n = {int(r.n_compared)} compared rankings of {int(r.n_rankings)}; agreement with the others "
        f"{r.reliability:.2f} [{r.low:.2f}, {r.high:.2f}]; P(at chance) = {r.p_chance:.2f}, "
        f"P(reversed) = {r.p_reversed:.2f}"
        if np.isfinite(r.reliability)
        else f"n = 0 compared rankings of {int(r.n_rankings)}: no other ranker ordered the same pairs"
        for r in out.itertuples()
    ]
    p_bad_all = (out["p_chance"] + out["p_reversed"]).to_numpy()
    if "as_displayed" in table.columns:
        shown = table["as_displayed"].astype("boolean")
        known = shown.notna().to_numpy()
        cp = _copy_pvalues(sc["k"].to_numpy()[known], shown[known].to_numpy(bool), who[known])
        if len(cp):
            hit = _bh(cp["p"].to_numpy(), fdr) & (cp["matched"] / cp["n"] >= COPY_SHARE).to_numpy()
            pos = out.set_index("annotator").index.get_indexer(cp["annotator"])
            for j, (i, r) in enumerate(zip(pos, cp.itertuples())):
                if hit[j]:
                    suspect[i] = True
                    rule[i] = "copies_displayed_order"
                    evidence[i] = (
                        f"n = {r.n} rankings; {r.matched} keep the displayed order where a random display gives "
                        f"that by chance with P = {r.p:.2g}; " + evidence[i]
                    )
    verdict = np.where(
        suspect,
        "suspect",
        np.where((p_bad_all < OK_BELOW) & (out["n_compared"] >= MIN_COMPARED), "ok", "insufficient data"),
    )
    out["verdict"] = verdict
    out["rule"] = np.where(verdict == "ok", "", rule)
    out["evidence"] = evidence
    return out[RANKER_COLUMNS]


# --------------------------------------------------------------------------- the shared summary


def summary(
    votes: pd.DataFrame | None = None,
    rankings: pd.DataFrame | None = None,
    *,
    levels: str | Mapping[str, str] | None = None,
    fdr: float = FDR,
    min_bayes_factor: float = MIN_BAYES_FACTOR,
    rankers: pd.DataFrame | None = None,
    fits: Mapping[str, tuple] | None = None,
    codes: Codes | None = None,
) -> dict:
    """What the CLI's ``annotators`` command, the report's annotator section and the flags table share.

    ``annotators``: one row per annotator and source (``votes`` or ``rankings``): ``annotator,
    source, n_votes, reliability, low, high, verdict, rule, evidence`` (``n_votes``: votes or
    rankings); ``suspects``: the rows with verdict ``suspect``; ``levels``: the level each label
    was read at and whether it was declared; ``rules``: the thresholds. ``rankers``:
    :func:`ranking_verdicts` of ``rankings`` at the same ``fdr`` and ``min_bayes_factor``, where
    the caller has it already (else computed here); ``fits`` and ``codes`` (the :class:`Codes` of
    ``votes``): as :func:`vote_verdicts`'.
    """
    parts = []
    out: dict = {"levels": {}}
    if votes is not None and len(votes):
        keep = votes["annotator"].notna() if codes is None else pd.Series(codes.annotator >= 0, index=votes.index)
        if "count" in votes.columns:
            keep &= votes["count"].fillna(1) == 1
        single = votes if keep.all() else votes[keep]  # no copy of the votes when every row is a single vote
        if len(single):
            codes = codes if single is votes else None
            lv = levels_for(single, levels) if codes is None else _levels(single, levels, codes.labels, "value")
            out["levels"] = {
                k: {"level": v, "declared": (levels.get(k) if isinstance(levels, Mapping) else levels) is not None}
                for k, v in lv.items()
            }
            t = vote_verdicts(single, levels=lv, fdr=fdr, min_bayes_factor=min_bayes_factor, fits=fits, codes=codes)
            parts.append(t.assign(source="votes"))
    if rankings is not None and len(rankings):
        t = ranking_verdicts(rankings, fdr=fdr, min_bayes_factor=min_bayes_factor) if rankers is None else rankers
        parts.append(t.rename(columns={"n_rankings": "n_votes"}).assign(source="rankings"))
    columns = ["annotator", "source", "n_votes", "reliability", "low", "high", "verdict", "rule", "evidence"]
    table = pd.concat([p[columns] for p in parts], ignore_index=True) if parts else pd.DataFrame(columns=columns)
    out["annotators"] = table
    out["suspects"] = table[table["verdict"] == "suspect"].reset_index(drop=True)
    out["rules"] = {
        "fdr": fdr,
        "min_bayes_factor": min_bayes_factor,
        "theta_floor": THETA_FLOOR,
        "constant_share": CONSTANT_SHARE,
        "ok_below": OK_BELOW,
        "min_compared": MIN_COMPARED,
        "copy_share": COPY_SHARE,
        "noise_ratio": NOISE_RATIO,
        "compressed": COMPRESSED,
    }
    return out
