import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import oasst_quality as oq
from oasst_quality import adapter, skew
from oasst_quality.errors import NotComputableError

positive = st.lists(st.integers(1, 1000), min_size=1, max_size=40)


def test_by_hand():
    # Gini of (1, 2, 3, 4): Σ(2i − n − 1) x_i = −3 − 2 + 3 + 12 = 10; / (4 · 10) = 0.25
    assert skew.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert skew.gini([0, 0, 0, 10]) == pytest.approx(0.75)  # (n − 1)/n
    assert skew.entropy([1, 1, 1, 1]) == pytest.approx(2.0)
    assert skew.entropy([1, 1, 2]) == pytest.approx(1.5)  # −(.25 log .25 · 2 + .5 log .5)
    assert skew.effective_number([5, 5, 5]) == pytest.approx(3.0)
    # JSD between (1, 0) and (0, 1) is 1 bit; between (.5, .5) and (1, 0): 1 − H(.75, .25)/2 − .5·0
    assert skew.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert skew.jensen_shannon([1, 1], [1, 0]) == pytest.approx(h - 0.5)
    assert skew.top_share([10, 5, 3, 2], 1) == pytest.approx(0.5)
    x, y = skew.lorenz_curve([1, 3])
    assert x.tolist() == [0, 0.5, 1] and y.tolist() == [0, 0.25, 1]


@given(st.integers(1, 50), st.integers(1, 1000))
def test_gini_zero_for_equal_shares(n, v):
    assert skew.gini([v] * n) == pytest.approx(0.0, abs=1e-12)


@given(st.integers(2, 2000))
def test_gini_tends_to_one_when_one_holds_everything(n):
    g = skew.gini([0] * (n - 1) + [7])
    assert g == pytest.approx((n - 1) / n)
    assert g >= 0.5


@given(positive, st.floats(0.01, 1000))
def test_gini_scale_invariant_and_bounded(x, c):
    assert skew.gini(np.array(x) * c) == pytest.approx(skew.gini(x), abs=1e-9)
    assert 0 <= skew.gini(x) < 1


@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=10).flatmap(
        lambda p: st.tuples(st.just(p), st.lists(st.integers(0, 50), min_size=len(p), max_size=len(p)))
    )
)
def test_jsd_symmetric_and_zero_only_for_equal(pq):
    p, q = pq
    if sum(p) == 0 or sum(q) == 0:
        return
    a, b = skew.jensen_shannon(p, q), skew.jensen_shannon(q, p)
    assert a == pytest.approx(b, abs=1e-12) and 0 <= a <= 1 + 1e-12
    same = np.allclose(np.array(p) / sum(p), np.array(q) / sum(q))
    assert (a < 1e-12) == same


def test_chi_square_matches_scipy_and_series_align():
    from scipy.stats import chisquare

    obs = pd.Series({"male": 80, "female": 15, "other": 5})
    ref = pd.Series({"female": 0.5, "male": 0.45, "other": 0.05})
    res = skew.chi_square_test(obs, ref)
    expected = chisquare([15, 80, 5], [50, 45, 5])
    assert res.statistic == pytest.approx(expected.statistic) and res.p_value == pytest.approx(expected.pvalue)


def test_bootstrap_seeded():
    a = skew.bootstrap_units([1, 1, 2, 9, 30], skew.gini, n_resamples=200, seed=3)
    assert a == skew.bootstrap_units([1, 1, 2, 9, 30], skew.gini, n_resamples=200, seed=3)
    assert a.low <= a.estimate <= a.high


def test_concentration_without_interval_names_contributors():
    one = skew.concentration_from_tallies({"users": {"n_messages": {"u1": 5}}}, n_resamples=20)
    assert one["gini"]["no_interval"] == "one contributor"
    alike = skew.concentration_from_tallies({"users": {"n_messages": {"u1": 4, "u2": 4, "u3": 4}}}, n_resamples=20)
    assert alike["gini"]["no_interval"] == "every resample of the 3 contributors gives the same value"
    assert alike["gini"]["method"] == "percentile bootstrap over units"


def test_dataset_summaries(shared):
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    lang = skew.language_skew(
        ds, reference=pd.Series({"en": 0.5, "es": 0.5}).reindex(ds.messages["lang"].unique(), fill_value=0.001)
    )
    assert lang["n_languages"] == 32 and lang["counts"]["en"] == 746
    assert lang["entropy_bits"]["low"] <= lang["entropy_bits"]["estimate"] <= lang["entropy_bits"]["high"]
    conc = skew.contributor_concentration(ds, n_resamples=100)
    assert conc["n_messages"] == ds.messages["user_id"].notna().sum()
    table = skew.quality_by_group(ds, min_messages=50)
    assert set(table["lang"]) >= {"en", "es"}
    moved = skew.without_top_contributors(ds)
    assert 0 < moved["share_of_messages_by_them"] < 1


def test_demographic_skew_against_oasst_survey():
    out = skew.demographic_skew(pd.Series({"male": 891, "female": 109}))
    assert out["jsd_bits"] == pytest.approx(0, abs=1e-12) and out["chi_square"]["p_value"] == pytest.approx(1)


def test_agreement_by_group(shared):
    from oasst_quality import agreement as ag
    from oasst_quality.published import flag_value_counts

    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    by_lang = skew.agreement_by_group(ds, label="spam", n_resamples=100).set_index("lang")
    assert {"en", "es"} <= set(by_lang.index)
    # each group's alpha equals alpha on that group's messages alone
    counts, ids, _ = flag_value_counts(adapter.labels(ds), "spam")
    lang = ds.messages.set_index("message_id")["lang"].reindex(ids).to_numpy()
    en = counts[(lang == "en") & (counts.sum(axis=1) >= 2)]
    assert by_lang.loc["en", "alpha"] == pytest.approx(ag.krippendorff_alpha(value_counts=en, level="nominal"))
    deciles = skew.agreement_by_group(
        oq.load_sample(), label="spam", by="contributor_decile", min_messages=20, n_resamples=50
    )
    assert len(deciles) >= 5 and deciles["alpha_low"].le(deciles["alpha"]).all()


def test_without_top_says_when_no_mean_is_left():
    users = pd.DataFrame(
        {"n_messages": [3.0, 1.0], "n": [2.0, 0.0], "sum": [1.5, 0.0], "sumsq": [1.25, 0.0]},
        index=pd.Index(["u1", "u2"], name="author"),
    )
    t = {"users": users, "no_user": pd.Series({"n_messages": 0.0, "n": 0.0, "sum": 0.0, "sumsq": 0.0})}
    with pytest.raises(NotComputableError, match="written by the top 1 contributors"):
        skew.without_top_from_tallies(t)  # u1 wrote every labelled message
    t["users"] = users.assign(n=0.0, sum=0.0, sumsq=0.0)
    with pytest.raises(NotComputableError, match="no message carries"):
        skew.without_top_from_tallies(t)
    t["users"] = users.assign(n=[2.0, 1.0], sum=[1.5, 0.25])
    moved = skew.without_top_from_tallies(t)
    assert (moved["share_of_messages_by_them"], moved["mean_all"], moved["mean_without_top"]) == (0.75, 1.75 / 3, 0.25)


def test_an_empty_distribution_has_no_divergence():
    with pytest.raises(NotComputableError, match="no counts"):
        skew.jensen_shannon([0, 0], [1, 2])


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.integers(0, 2**31))
def test_gini_of_resamples_counts_draws_as_gini_sorts_them(counts, seed):
    x = np.array(counts, dtype=float)
    idx = np.random.default_rng(seed).integers(0, x.size, size=(70, x.size))
    assert skew._gini_of_resamples(x, idx, chunk=16).tolist() == [skew.gini(x[i]) for i in idx]
