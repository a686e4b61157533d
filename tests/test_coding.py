"""The shared encoded-votes type (its sort order), and the whole-votes rule of published means."""

import numpy as np
import pandas as pd
import pytest

from oasst_quality import aggregation as agg
from oasst_quality import agreement as ag
from oasst_quality.adapter import whole_votes
from oasst_quality.coding import encode

VOTES = pd.DataFrame(
    {
        "item": ["b", "a", "c", "b", "a", "c", "a", "b"],
        "annotator": ["y", "x", "x", "x", "y", "z", "z", "z"],
        "value": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.5],
    }
)


def test_items_annotators_and_values_are_coded_in_sorted_order():
    r = encode(VOTES)
    assert list(r.items) == ["a", "b", "c"] and list(r.annotators) == ["x", "y", "z"]
    assert r.values.tolist() == [0.0, 0.5, 1.0]
    # the codes point back at each row's own ids and value
    assert (r.items[r.item] == VOTES["item"]).all() and (r.annotators[r.annotator] == VOTES["annotator"]).all()
    assert np.array_equal(r.values[r.code], VOTES["value"]) and np.array_equal(r.value, VOTES["value"])
    assert r.counts.toarray().tolist() == [[2, 0, 1], [0, 1, 2], [1, 0, 1]]


def test_agreement_and_aggregation_read_the_same_codes():
    r, c = ag.ratings(VOTES), agg._code(VOTES, "item", "annotator", "value")
    assert all(np.array_equal(getattr(r, f), getattr(c, f)) for f in ("item", "annotator", "code", "values"))


def test_seeded_results_do_not_depend_on_the_order_of_the_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "item": rng.integers(0, 40, 400).astype(str),
            "annotator": rng.integers(0, 12, 400),
            "value": rng.integers(0, 3, 400).astype(float),
        }
    )
    shuffled = df.sample(frac=1, random_state=1)
    for cluster in ("items", "annotators"):
        a = ag.bootstrap(df, "alpha", level="nominal", n_resamples=50, cluster=cluster, seed=3)
        assert a == ag.bootstrap(shuffled, "alpha", level="nominal", n_resamples=50, cluster=cluster, seed=3)
    first, second = agg.MACE(seed=2).fit(df), agg.MACE(seed=2).fit(shuffled)
    pd.testing.assert_series_equal(first.labels_, second.labels_)
    pd.testing.assert_series_equal(first.annotator_reliability_, second.annotator_reliability_)


@pytest.mark.parametrize(
    ("value", "count", "steps", "total", "whole"),
    [
        (2 / 3, 3, 1, 2, True),  # two yes votes of three
        (0.5, 3, 1, 2, False),  # 1.5 yes votes: not a mean of three 0/1 votes
        (0.375, 2, 4, 3, True),  # .25 and .5 on the Likert grid: 1 + 2 steps
        (0.3, 2, 4, 2, False),  # 2.4 steps
    ],
)
def test_whole_votes_by_hand(value, count, steps, total, whole):
    got, ok = whole_votes(np.array([value]), np.array([count]), steps)
    assert ok[0] == whole and (not whole or got[0] == total)
