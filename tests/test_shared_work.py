"""Work the per-annotator summary shares (codes, counts, sorted values) gives what computing it anew gives."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality import annotations as an
from oasst_quality import per_annotator as pa
from oasst_quality.coding import _sorted_codes, encode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import planted_export


@pytest.fixture(scope="module")
def planted():
    ds = oq.load_sample()
    labels, reactions = planted_export.generate(ds, swap=0.0)
    return ds.with_annotations(an.from_backend(labels, reactions))


@pytest.mark.parametrize(
    "vals",
    [
        np.array([0.5, 0.25, 0.5, 1.0, 0.25, 0.0]),
        np.array([3, 1, 2, 3, 1], dtype=np.int64),
        np.array([0.0, -0.0, 1.0, 0.0]),  # -0.0: np.unique's own way
        np.array([1.0, np.nan, 0.0, np.nan]),  # NaN: np.unique's own way
        np.array(["b", "a", "b"], dtype=object),
        np.array([], dtype=float),
    ],
)
def test_sorted_codes_are_np_uniques(vals):
    domain, codes = _sorted_codes(vals)
    want_domain, want_codes = np.unique(vals, return_inverse=True)
    np.testing.assert_array_equal(domain, want_domain)
    np.testing.assert_array_equal(codes, want_codes.ravel())
    assert codes.dtype == want_codes.dtype


def test_sorted_codes_by_hand():
    domain, codes = _sorted_codes(np.array([0.75, 0.25, 0.75, 0.5]))
    assert domain.tolist() == [0.25, 0.5, 0.75] and codes.tolist() == [2, 0, 2, 1]


def test_per_label_codes_are_encodes_of_each_labels_votes():
    # labels with different items and annotators, ids out of order, a vote without a value on one label
    votes = pd.DataFrame(
        {
            "item": ["m3", "m1", "m2", "m1", "m9", "m3", "m2", "m8", "m8", "m9"],
            "annotator": ["z", "a", "a", "z", "q", "q", "z", "b", "a", "b"],
            "label": ["spam", "spam", "spam", "spam", "quality", "quality", "quality", "humor", "humor", "humor"],
            "value": [1.0, 0.0, 1.0, 1.0, 0.5, 0.75, 0.5, 0.25, np.nan, 0.25],
            "count": 1,
        }
    )
    per = pa._per_label(votes, None)
    assert [p.name for p in per] == ["humor", "quality", "spam"]
    for p in per:
        sub = votes[votes["label"] == p.name]
        want = encode(sub)
        for field in ("item", "annotator", "code", "values"):
            np.testing.assert_array_equal(getattr(p.coded, field), getattr(want, field))
        assert (p.coded.n_items, p.coded.n_annotators) == (want.n_items, want.n_annotators)
        pd.testing.assert_index_equal(p.coded.items, want.items)
        pd.testing.assert_index_equal(p.coded.annotators, want.annotators)
        assert p.n_votes == len(sub)
        assert (p.votes is None) == bool(sub["value"].notna().all())  # kept only where a vote has no value
    quality = next(p for p in per if p.name == "quality")
    assert quality.coded.items.tolist() == ["m2", "m3", "m9"] and quality.coded.item.tolist() == [2, 1, 0]


def test_models_count_votes_and_zeros_per_annotator():
    votes = pd.DataFrame(
        {
            "item": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "annotator": ["x", "y", "x", "y", "x", "y", "x", "y"],
            "label": "spam",
            "value": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
            "count": 1,
        }
    )
    table = pa.annotator_models(votes).set_index("annotator")
    assert table["n_votes"].tolist() == [4, 4]
    assert table.loc["x", "zero_share"] == 0.5 and table.loc["y", "zero_share"] == 0.75


def test_text_of_ids_blank_control_and_numbers():
    text, problems, missing = an._text(pd.Series(["a", " ", "b\x07c", "a", None, "d"], dtype="str"))
    assert text.tolist()[:4] == ["a", None, "b\x07c", "a"] and pd.isna(text.iloc[4])
    assert missing.tolist() == [False, True, False, False, True, False]  # blank and None: missing
    assert problems[2] == "control character U+0007 in the id 'b\\x07c'"
    assert [p is None for p in problems] == [True, True, False, True, True, True]
    text, problems, missing = an._text(pd.Series([3, 1, 3]))  # numbers (a JSON file's ids): their text
    assert text.tolist() == ["3", "1", "3"] and all(p is None for p in problems) and not missing.any()
    text, _, missing = an._text(pd.Series(["x", 1.0, None], dtype=object))  # mixed types: each as it is
    assert text.tolist()[:2] == ["x", "1.0"] and missing.tolist() == [False, False, True]


@pytest.mark.parametrize("dtype", [object, "str", "string", "category", "Int64", "int64"])
def test_first_seen_is_factorize_with_pd_uniques_index(dtype):
    from oasst_quality.verdicts.annotators import _first_seen

    values = [3, 1, 3, 2, 1] if dtype in ("Int64", "int64") else ["c", "a", "c", "b", "a"]
    ids = pd.Series(values, dtype=dtype)
    codes, order = _first_seen(ids)
    want = pd.Index(pd.unique(ids))
    pd.testing.assert_index_equal(order, want, exact=True)
    np.testing.assert_array_equal(codes, [0, 1, 0, 2, 1])
