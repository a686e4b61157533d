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
