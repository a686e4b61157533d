import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oasst_quality import skew
from oasst_quality._util import bootstrap_interval, unique_rows
from oasst_quality.errors import NotComputableError


@given(
    arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)), elements=st.integers(0, 6).map(float))
    | arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 3)), elements=st.floats(-3, 3, width=16))
)
def test_unique_rows_equals_numpy_unique_along_rows(a):
    first, inverse, counts = unique_rows(a)
    _, first2, inverse2, counts2 = np.unique(a, axis=0, return_index=True, return_inverse=True, return_counts=True)
    assert (first == first2).all() and (inverse == inverse2.ravel()).all() and (counts == counts2).all()


def test_an_interval_needs_a_finite_resample():
    assert bootstrap_interval(np.array([np.nan, 1.0, 3.0]), 0.5) == (1.5, 2.5, 2)
    with pytest.raises(NotComputableError, match="every bootstrap resample"):
        bootstrap_interval(np.array([np.nan, np.inf]), 0.95)
    with pytest.raises(NotComputableError):  # a statistic undefined on every resample has no Estimate
        skew.bootstrap_units([1, 2, 3], lambda x: np.nan, n_resamples=10)
