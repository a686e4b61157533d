"""The one encoded-votes type that the agreement and aggregation modules share.

Sort order: items and annotators are numbered in the sorted order of their ids (pandas' sort,
which also orders ids of mixed types), values in sorted order. The codes, and so every seeded
resample or random start drawn over them, do not depend on the order of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._util import require_columns
from .errors import UsageError


@dataclass(frozen=True)
class Ratings:
    """Annotations reduced to codes: one entry per rating (item, annotator, value code).

    ``items`` and ``annotators`` hold the ids behind the codes when the ratings came from a long
    table (None for a reliability matrix or value counts, whose positions are the ids).
    """

    item: np.ndarray  # int codes into items
    annotator: np.ndarray  # int codes into annotators (-1 when unknown, e.g. value counts)
    code: np.ndarray  # index into ``values``
    values: np.ndarray  # sorted distinct values
    n_items: int
    n_annotators: int
    items: pd.Index | None = None
    annotators: pd.Index | None = None

    @property
    def counts(self) -> sp.csr_matrix:
        """Items x values matrix of how many annotators gave each value to each item (a copy of
        one built once: the agreement statistics of a label each read it)."""
        return self._counts.copy()

    @cached_property
    def _counts(self) -> sp.csr_matrix:
        ones = np.ones(self.item.size, dtype=np.float64)
        return sp.csr_matrix((ones, (self.item, self.code)), shape=(self.n_items, self.values.size))

    @cached_property
    def item_cells(self) -> sp.csr_matrix:
        """Items x (annotator, value) matrix of how many times each annotator gave each value to
        each item (column ``annotator * len(values) + code``; its columns sorted within each row):
        the Dawid-Skene models' count matrix, built once for every model fitted on these ratings."""
        cells = self.n_annotators * self.values.size
        if self.annotator.size and self.annotator.min() < 0:  # no annotator: scipy names the fault
            m = sp.csr_matrix((np.ones(self.item.size), (self.annotator * self.values.size + self.code, self.item)))
            return m.T.tocsr()
        # (item, cell) keys sorted: each row's cells in order, a repeated key a count above 1
        dtype = np.int32 if self.n_items * cells <= np.iinfo(np.int32).max else np.int64
        key = self.item.astype(dtype) * dtype(cells)
        key += (self.annotator * self.values.size + self.code).astype(dtype)
        key.sort()
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, dtype=np.intp)
        count = np.diff(np.r_[first, key.size]).astype(np.float64)
        key = key[first]
        row = key // dtype(cells)
        indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=self.n_items))]
        return sp.csr_matrix((count, key - row * dtype(cells), indptr), shape=(self.n_items, cells))

    @cached_property
    def value(self) -> np.ndarray:
        """Each rating's value as a float (its code when the values are not numbers)."""
        if np.issubdtype(self.values.dtype, np.number):
            return self.values[self.code].astype(float)
        return self.code.astype(float)

    def take(self, index: np.ndarray) -> Ratings:
        """The ratings at ``index`` (a mask or positions, repeats allowed), with the same codes."""
        return Ratings(
            self.item[index],
            self.annotator[index],
            self.code[index],
            self.values,
            self.n_items,
            self.n_annotators,
            self.items,
            self.annotators,
        )


def encode(
    df: pd.DataFrame,
    *,
    item: str = "item",
    annotator: str = "annotator",
    value: str = "value",
    value_domain: np.ndarray | None = None,
) -> Ratings:
    """:class:`Ratings` of a long table (rows with a missing value dropped), in the module's sort order.

    ``value_domain``: the sorted values to code against (every value in the data must be one).
    """
    require_columns(df, item, annotator, value)
    frame = df[df[value].notna()]
    item_codes, items = pd.factorize(frame[item], sort=True)
    ann_codes, annotators = pd.factorize(frame[annotator], sort=True)
    domain, codes = code_values(frame[value].to_numpy(), value_domain)
    return Ratings(
        np.asarray(item_codes),
        np.asarray(ann_codes),
        codes,
        domain,
        len(items),
        len(annotators),
        items,
        annotators,
    )


def code_values(vals: np.ndarray, value_domain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values (or ``value_domain``, which must hold every one) and each value's index in them."""
    try:
        domain, codes = _sorted_codes(vals)
    except TypeError as exc:
        raise UsageError(f"values must be mutually comparable: {exc}") from None
    if value_domain is not None:
        domain = np.asarray(value_domain)
        codes = np.searchsorted(domain, vals)
        if (codes >= domain.size).any() or not np.array_equal(domain[np.minimum(codes, domain.size - 1)], vals):
            raise UsageError("value_domain must be sorted and contain every value in the data")
    return domain, codes


def _sorted_codes(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(vals, return_inverse=True)``. Numbers without NaN or -0.0 (votes on a scale:
    many votes, few values) are hashed first and only their distinct values sorted, which gives
    the same two arrays without sorting every vote."""
    if vals.dtype.kind in "iuf" and vals.size:
        first, distinct = pd.factorize(vals, use_na_sentinel=True)
        if vals.dtype.kind != "f" or (first.min() >= 0 and not np.signbit(vals[vals == 0]).any()):
            domain, at = np.unique(distinct, return_inverse=True)
            return domain, at.ravel()[first]
    domain, codes = np.unique(vals, return_inverse=True)
    return domain, codes.ravel()
