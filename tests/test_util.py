import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oasst_quality import skew
from oasst_quality._util import bootstrap_estimate, unique_rows
from oasst_quality.errors import NotComputableError
from oasst_quality.estimate import interval_text


@given(
    arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)), elements=st.integers(0, 6).map(float))
    | arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 3)), elements=st.floats(-3, 3, width=16))
)
def test_unique_rows_equals_numpy_unique_along_rows(a):
    first, inverse, counts = unique_rows(a)
    _, first2, inverse2, counts2 = np.unique(a, axis=0, return_index=True, return_inverse=True, return_counts=True)
    assert (first == first2).all() and (inverse == inverse2.ravel()).all() and (counts == counts2).all()


def test_an_interval_needs_a_finite_resample():
    e = bootstrap_estimate(2.0, np.array([np.nan, 1.0, 3.0]), 0.5, 3, "m", units=3, unit="item")
    assert (e.low, e.high, e.details["n_resamples"]) == (1.5, 2.5, 2)
    with pytest.raises(NotComputableError, match="every bootstrap resample"):
        bootstrap_estimate(1.0, np.array([np.nan, np.inf]), 0.95, 3, "m", units=3, unit="item")
    with pytest.raises(NotComputableError):  # a statistic undefined on every resample has no Estimate
        skew.bootstrap_units([1, 2, 3], lambda x: np.nan, n_resamples=10)


def test_one_unit_or_no_spread_gives_no_interval():
    one = bootstrap_estimate(0.5, np.array([0.5, 0.5]), 0.95, 4, "m", units=1, unit="tree")
    assert (one.low, one.high, one.details["no_interval"]) == (None, None, "one tree")
    flat = bootstrap_estimate(1.0, np.ones(50), 0.95, 9, "m", units=9, unit="item")
    assert (flat.low, flat.high) == (None, None)
    assert flat.details["no_interval"] == "every resample of the 9 items gives the same value"
    assert interval_text(flat) == "no interval: every resample of the 9 items gives the same value"
    spread = bootstrap_estimate(0.5, np.linspace(0, 1, 101), 0.9, 9, "m", units=9, unit="item")
    assert (
        interval_text(spread, ".2f") == "[0.05, 0.95]"
        and interval_text(spread, ".3f", "{low}-{high}") == "0.050-0.950"
        and "no_interval" not in spread.details
    )
    # one language: every message is in it, so entropy is 0 on every resample and has no interval
    e = skew.bootstrap_statistic(np.array([2022]), skew.entropy, n_resamples=20)
    assert (e.low, e.high) == (None, None) and "2,022 counted units gives the same value" in e.details["no_interval"]
