import gzip
import json
from itertools import combinations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from statsmodels.stats import inter_rater as sm

from oasst_quality import agreement as ag
from oasst_quality.errors import NotComputableError

LEVELS = ["nominal", "ordinal", "interval", "ratio"]


def _reference(shared):
    return json.loads((shared / "krippendorff_alpha_reference" / "reference_examples.json").read_text())["examples"]


def _long(matrix):
    a, i = np.nonzero(~np.isnan(matrix))
    return pd.DataFrame({"item": i, "annotator": a, "value": matrix[a, i]})


# --------------------------------------------------------------------------- published values


def test_krippendorff_published_examples(shared):
    for example in _reference(shared):
        matrix = np.array(example["reliability_data"], dtype=float)
        for level, expected in example["expected"].items():
            digits = len(str(expected).split(".")[1])
            assert round(ag.krippendorff_alpha(matrix, level), digits) == expected
            assert round(ag.krippendorff_alpha(_long(matrix), level), digits) == expected
        for level, value in example.get("computed_6dp", {}).items():
            assert round(ag.krippendorff_alpha(matrix, level), 6) == value
        if "value_counts_units_x_values_1to4" in example:
            vc = np.array(example["value_counts_units_x_values_1to4"])
            for level, expected in example["expected"].items():
                got = ag.krippendorff_alpha(value_counts=vc, value_domain=[1, 2, 3, 4], level=level)
                assert round(got, 6) == expected


def test_pandalm_published_cohen_kappas(shared):
    rows = json.loads(gzip.open(shared / "pairwise_pandalm_human" / "testset-v1.json.gz").read())
    labels = pd.DataFrame([{k: r[k] for k in ("annotator1", "annotator2", "annotator3")} for r in rows])
    got = {
        (a, b): round(ag.cohen_kappa(labels[f"annotator{a}"], labels[f"annotator{b}"]), 2)
        for a, b in combinations((1, 2, 3), 2)
    }
    assert got == {(1, 2): 0.85, (1, 3): 0.88, (2, 3): 0.86}


# --------------------------------------------------------------------------- cross-checks


@st.composite
def reliability(draw):
    n_ann = draw(st.integers(2, 6))
    n_items = draw(st.integers(2, 25))
    values = draw(st.sampled_from([[1, 2, 3], [0, 1], [1, 2, 3, 4, 5], [0.5, 1.5, 7.0, 10.0]]))
    m = draw(arrays(np.float64, (n_ann, n_items), elements=st.sampled_from([*values, np.nan])))
    counts = (~np.isnan(m)).sum(axis=0)
    if (counts >= 2).sum() < 1 or np.unique(m[:, counts >= 2][~np.isnan(m[:, counts >= 2])]).size < 2:
        m[:2, 0] = values[:2]  # at least one pairable item with two distinct values
    return m


@given(reliability(), st.sampled_from(LEVELS))
def test_alpha_equals_krippendorff_package(m, level):
    expected = krippendorff.alpha(reliability_data=m, level_of_measurement=level)
    assert ag.krippendorff_alpha(m, level) == pytest.approx(expected, abs=1e-9)
    assert ag.krippendorff_alpha(_long(m), level) == pytest.approx(expected, abs=1e-9)


@given(reliability())
def test_input_forms_agree_and_coincidences_merge(m):
    r = ag.ratings(m)
    counts = r.counts.toarray()
    for level in LEVELS:
        a = ag.krippendorff_alpha(m, level)
        b = ag.krippendorff_alpha(value_counts=counts, value_domain=r.values, level=level)
        assert a == pytest.approx(b, abs=1e-12) or (np.isnan(a) and np.isnan(b))
    half = m.shape[1] // 2
    left, right = ag.coincidence_matrix(m[:, :half]), ag.coincidence_matrix(m[:, half:])
    whole = ag.coincidence_matrix(m)
    merged = left.merge(right)
    assert np.allclose(merged.o, whole.o) and np.array_equal(merged.values, whole.values)


def test_fleiss_equals_statsmodels_on_equal_counts():
    rng = np.random.default_rng(3)
    for _ in range(20):
        table = rng.multinomial(5, rng.dirichlet(np.ones(4)), size=30)
        assert ag.fleiss_kappa(value_counts=table) == pytest.approx(sm.fleiss_kappa(table, method="fleiss"), abs=1e-12)


@pytest.mark.parametrize("weights,wt", [(None, None), ("linear", "linear"), ("quadratic", "quadratic")])
def test_cohen_equals_statsmodels(weights, wt):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 5, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 5, 300))
    table = pd.crosstab(a, b).to_numpy()
    expected = sm.cohens_kappa(table, wt=wt).kappa
    assert ag.cohen_kappa(a, b, weights=weights) == pytest.approx(expected, abs=1e-12)


def test_kappa_family_by_hand():
    # four items, two raters each: (2,0), (1,1), (0,2), (2,0)
    vc = np.array([[2, 0], [1, 1], [0, 2], [2, 0]])
    # pa = .75; pi = (.625, .375); Fleiss pe = .53125; Gwet pe = 2 * .625 * .375 = .46875
    assert ag.percent_agreement(value_counts=vc) == pytest.approx(0.75)
    assert ag.fleiss_kappa(value_counts=vc) == pytest.approx(7 / 15)
    assert ag.gwet_ac1(value_counts=vc) == pytest.approx(9 / 17)
    # two categories: quadratic or linear AC2 weights reduce to AC1
    assert ag.gwet_ac2(value_counts=vc) == pytest.approx(9 / 17)


def _ac_bruteforce(m, weights=None):
    """Gwet's AC1/AC2 by explicit loops over items and rater pairs (independent of the vectorized code)."""
    values = np.unique(m[~np.isnan(m)])
    span = values.max() - values.min()
    w = (lambda x, y: float(x == y)) if weights is None else (lambda x, y: 1 - ((x - y) / span) ** 2)
    pa_items, shares = [], []
    for col in m.T:
        v = col[~np.isnan(col)]
        if v.size:  # chance shares: every rated item (Gwet 2014; irrCAC)
            shares.append([np.mean(v == c) for c in values])
        if v.size < 2:
            continue
        pairs = [(x, y) for i, x in enumerate(v) for j, y in enumerate(v) if i != j]
        pa_items.append(np.mean([w(x, y) for x, y in pairs]))
    pi = np.mean(shares, axis=0)
    q = values.size
    tw = sum(w(x, y) for x in values for y in values)
    pe = tw / (q * (q - 1)) * np.sum(pi * (1 - pi))
    return (np.mean(pa_items) - pe) / (1 - pe)


@given(reliability())
def test_ac1_ac2_equal_bruteforce(m):
    if np.unique(m[~np.isnan(m)]).size < 2:
        return
    assert ag.gwet_ac1(m) == pytest.approx(_ac_bruteforce(m), abs=1e-9)
    assert ag.gwet_ac2(m, weights="quadratic") == pytest.approx(_ac_bruteforce(m, "quadratic"), abs=1e-9)


# --------------------------------------------------------------------------- rankings


def test_kendalls_w_by_hand_and_with_ties():
    assert ag.kendalls_w(np.array([[1, 2, 3, 4]] * 3)) == pytest.approx(1.0)
    # 3 raters, 3 objects, rank sums (4, 6, 8) -> S = 8; W = 12*8 / (9 * 24) = 4/9
    x = np.array([[1, 2, 3], [2, 1, 3], [1, 3, 2]])
    assert ag.kendalls_w(x) == pytest.approx(4 / 9)
    # ties: rater 1 ties objects 1 and 2 -> ranks (1.5, 1.5, 3); rank sums (4.5, 5.5, 8), S = 6.5
    # correction m * Σ(t³ − t) = 3 * 6 = 18; W = 12 * 6.5 / (9 * 24 − 18) = 78 / 198
    y = np.array([[1, 1, 3], [2, 1, 3], [1, 3, 2]])
    assert ag.kendalls_w(y) == pytest.approx(78 / 198)
    assert ag.kendalls_w(y, ties=False) == pytest.approx(78 / 216)


@given(arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(3, 8)), elements=st.floats(0, 1)))
def test_kendalls_w_relation_to_mean_spearman(x):
    x = x + np.arange(x.shape[1]) * 1e-9  # break ties
    m = x.shape[0]
    from scipy.stats import spearmanr

    rho = spearmanr(x.T).statistic
    mean_rho = rho if m == 2 else rho[np.triu_indices(m, 1)].mean()
    assert (m * ag.kendalls_w(x) - 1) / (m - 1) == pytest.approx(mean_rho, abs=1e-9)


def test_pairwise_rank_agreement_by_hand():
    # rater 1: a > b > c; rater 2: a > c > b. Pairs ab, ac agree; bc disagrees -> 2/3
    assert ag.pairwise_rank_agreement(np.array([[3, 2, 1], [3, 1, 2]])) == pytest.approx(2 / 3)
    # unranked objects are not compared
    assert ag.pairwise_rank_agreement(np.array([[3, 2, np.nan], [3, 1, 2]])) == pytest.approx(1.0)


# --------------------------------------------------------------------------- intervals and diagnostics


def test_bootstrap_is_seeded_and_matches_naive_resampling():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 60)
    m = np.where(rng.random((5, 60)) < 0.7, truth, rng.integers(0, 4, (5, 60))).astype(float)
    m[rng.random(m.shape) < 0.3] = np.nan
    a = ag.bootstrap(m, "alpha", level="ordinal", n_resamples=40, seed=11)
    b = ag.bootstrap(m, "alpha", level="ordinal", n_resamples=40, seed=11)
    assert a == b and a.low <= a.estimate <= a.high
    # the vectorized resamples equal recomputing alpha on explicitly resampled items
    r = ag.ratings(m)
    _, keep = ag._pair_contributions(r.counts)
    f = ag._resample_counts(np.random.default_rng(11), keep.size, 40)
    naive = []
    for row in f:
        cols = np.repeat(keep, row.astype(int))
        naive.append(ag.krippendorff_alpha(m[:, cols], "ordinal"))
    tail = np.percentile(naive, [2.5, 97.5])
    assert (a.low, a.high) == pytest.approx(tuple(tail), abs=1e-12)
    for stat in ("fleiss_kappa", "gwet_ac1", "gwet_ac2", "percent_agreement"):
        ci = ag.bootstrap(m, stat, n_resamples=200, seed=1)
        assert ci.low <= ci.estimate <= ci.high and ci.details["n_resamples"] == 200
    clustered = ag.bootstrap(_long(m), "alpha", level="nominal", cluster="annotators", n_resamples=50, seed=2)
    assert clustered.details["cluster"] == "annotators" and "annotators" in clustered.method
    assert clustered.low <= clustered.high


@given(reliability(), st.sampled_from(LEVELS))
def test_leave_one_annotator_out_equals_recomputation(m, level):
    table = ag.annotator_agreement(m, level)
    for a in range(m.shape[0]):
        rest = np.delete(m, a, axis=0)
        try:
            expected = ag.krippendorff_alpha(rest, level)
        except NotComputableError:
            expected = np.nan
        got = table.loc[a, "alpha_without"]
        assert got == pytest.approx(expected, abs=1e-9) or (np.isnan(got) and np.isnan(expected))


def test_item_disagreement():
    m = np.array([[1, 1, 1, 5], [1, 5, 1, 1], [1, 1, np.nan, 3]], dtype=float)
    d = ag.item_disagreement(m, "interval")
    assert d.loc[0, "disagreement"] == 0 and d.loc[0, "relative"] == 0
    assert d.loc[1, "disagreement"] == pytest.approx(16 * 4 / 6)  # pairs (1,5),(5,1),(5,1),(1,5) of 6
    assert d.loc[2, "n_values"] == 2


def test_column_names_by_keyword():
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": [0, 0, 1, 0]})
    assert ag.krippendorff_alpha(df, "nominal", item="task", annotator="worker", value="label") == pytest.approx(
        ag.krippendorff_alpha(np.array([[0, 1], [0, 0]], dtype=float), "nominal")
    )
    with pytest.raises(ValueError, match="columns"):
        ag.krippendorff_alpha(df, "nominal")


def test_equal_to_irrcac_reference_on_crowd_sets(shared):
    """Gwet's AC1/AC2 and Fleiss' kappa (Gwet's generalization) against irrCAC 0.4.4, stored once by
    benchmarks/irrcac_reference.py (irrCAC pins an old scipy and cannot be installed beside us)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import crowd_data

    reference = json.loads((Path(__file__).parent / "data" / "irrcac_reference.json").read_text())["sets"]
    assert len(reference) == 14  # 7 sets, each also with every fifth item single-rated
    for name, expected in reference.items():
        df, _, _ = crowd_data.load(name.split(", every fifth")[0])
        if name.endswith("single-rated"):
            df = crowd_data.single_rated(df)
        r = ag.ratings(df.drop_duplicates(["item", "annotator"]))  # irrCAC's wide table holds one value per cell
        assert round(ag.gwet_ac1(r), 5) == pytest.approx(expected["gwet_ac1"], abs=1.1e-5), name
        assert round(ag.fleiss_kappa(r), 5) == pytest.approx(expected["fleiss_kappa"], abs=1.1e-5), name
        for weights in ("quadratic", "linear"):
            if f"gwet_ac2_{weights}" in expected:
                got = ag.gwet_ac2(r, weights=weights)
                assert round(got, 5) == pytest.approx(expected[f"gwet_ac2_{weights}"], abs=1.1e-5), name


def test_single_rated_items_count_in_the_chance_shares():
    """Gwet (2014) and irrCAC average π_k over every rated item, single-rated ones included.

    Items (0,0), (0,1), (1,1) and a lone 1: p_a = 2/3 over the three pairable items;
    π = (1.5/4, 2.5/4); Fleiss p_e = π·π = 0.53125, AC1 p_e = 2 π_0 π_1 = 0.46875.
    irrCAC 0.4.4 gives 0.2889 and 0.3725 on this table.
    """
    m = np.array([[0, 0, 1, 1], [0, 1, 1, np.nan]])
    assert ag.fleiss_kappa(m) == pytest.approx((2 / 3 - 0.53125) / (1 - 0.53125))
    assert ag.gwet_ac1(m) == pytest.approx((2 / 3 - 0.46875) / (1 - 0.46875))
    assert round(ag.fleiss_kappa(m), 4) == 0.2889 and round(ag.gwet_ac1(m), 4) == 0.3725
    assert ag.percent_agreement(m) == pytest.approx(2 / 3)  # observed agreement: pairable items only
    # the bootstrap resamples every rated item and agrees with the point estimate's definition
    ci = ag.bootstrap(m, "fleiss_kappa", n_resamples=50, seed=1)
    assert ci.estimate == pytest.approx(ag.fleiss_kappa(m)) and ci.n == 4
