"""OASST's published aggregates: flag agreement from (value, count), the posteriors, the default-zero test."""

import numpy as np
import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality import adapter, published
from oasst_quality import agreement as ag
from oasst_quality.dataset import Dataset


def test_agreement_from_labels_on_sample():
    ds = oq.load_sample()
    table = published.agreement_from_labels(ds, n_resamples=100).set_index("label")
    assert not table.loc["quality", "computable"] and "not published" in table.loc["quality", "reason"]
    assert table.loc["spam", "computable"]
    assert table.loc["spam", "alpha_low"] <= table.loc["spam", "alpha"] <= table.loc["spam", "alpha_high"]
    # the flag's alpha equals alpha on the explicit long table of 0/1 votes it implies
    counts, ids, _ = published.flag_value_counts(adapter.labels(ds), "spam")
    votes = pd.DataFrame(
        {
            "item": np.repeat(np.arange(len(ids)).repeat(2), counts.ravel().astype(int)),
            "annotator": 0,
            "value": np.repeat(np.tile([0, 1], len(ids)), counts.ravel().astype(int)),
        }
    )
    assert table.loc["spam", "alpha"] == pytest.approx(ag.krippendorff_alpha(votes, "nominal"), abs=1e-12)


def test_oasst_posteriors_on_sample():
    post = published.oasst_posteriors(oq.load_sample())
    q = post[post["label"] == "quality"]
    assert (q["low"] <= q["posterior_mean"]).all() and (q["posterior_mean"] <= q["high"]).all()
    single = q[q["single_vote"]]
    many = q[q["count"] >= 3]
    assert (single["high"] - single["low"]).mean() > (many["high"] - many["low"]).mean()
    spam = post[post["label"] == "spam"]
    assert spam["posterior_mean"].between(0, 1).all()


def _likert_dataset(pi, n_messages=1500, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n_messages)
    counts = rng.integers(1, 6, n_messages)
    values = []
    for pm, n in zip(p, counts):
        votes = rng.binomial(4, pm, n) * (rng.random(n) >= pi)
        values.append(votes.mean() / 4)
    labels = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(n_messages)],
            "label": "humor",
            "value": values,
            "count": pd.array(counts, dtype="Int64"),
        }
    )
    messages = pd.DataFrame(
        {
            "message_id": labels["message_id"],
            "parent_id": None,
            "message_tree_id": "t",
            "role": "prompter",
            "rank": pd.array([None] * n_messages, dtype="Int64"),
        }
    )
    return Dataset.from_tables(messages, labels=labels)


def test_default_zero_bias_recovers_planted_rate():
    planted = published.default_zero_bias(_likert_dataset(0.25)).iloc[0]
    assert planted["default_rate"] == pytest.approx(0.25, abs=0.06)
    assert planted["p_value"] < 1e-6
    clean = published.default_zero_bias(_likert_dataset(0.0, seed=1)).iloc[0]
    assert clean["default_rate"] < 0.05 and clean["p_value"] > 0.01


def test_zero_inflated_pmf_and_logsumexp_are_scipys_numbers():
    from scipy import special

    rng = np.random.default_rng(0)
    x = rng.normal(0, 30, (200, 6))
    x[rng.random(x.shape) < 0.3] = -np.inf
    x[:5] = -np.inf  # all-impossible rows: scipy's direct sum gives -inf
    x[5:10, 1] = x[5:10, 0]  # tied largest terms
    assert np.array_equal(published._logsumexp_rows(x), special.logsumexp(x, axis=1))
    n = rng.integers(1, 7, 40).astype(float)
    s = np.minimum(rng.integers(0, 25, 40), 4 * n).astype(float)
    pmf = published._ZeroInflated(s, n, 4)(0.1, 1.5, 2.5)
    by_sums = [
        np.log(sum(_direct_pmf(k, ni, si) for k in range(int(ni) + 1))) for ni, si in zip(n, s)
    ]  # P(k answered of n) x Beta-binomial P(s | 4k), summed directly
    np.testing.assert_allclose(pmf, by_sums, rtol=1e-10)


def _direct_pmf(k: int, n: float, s: float, pi: float = 0.1, a: float = 1.5, b: float = 2.5) -> float:
    from scipy import stats

    answered = stats.binom.pmf(k, int(n), 1 - pi)
    return answered * (stats.betabinom.pmf(s, 4 * k, a, b) if k else float(s == 0))
