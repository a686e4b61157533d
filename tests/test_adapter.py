"""The adapter's tables: their columns, and the analyses giving the same on a table as on a Dataset."""

import pandas as pd

import oasst_quality as oq
from oasst_quality import adapter, published
from oasst_quality import consensus as cs


def test_tables_have_the_generic_columns():
    ds = oq.load_sample()
    assert list(adapter.labels(ds).columns[:4]) == ["item", "label", "value", "count"]
    assert tuple(adapter.messages(ds).columns) == adapter.MESSAGE_COLUMNS
    assert {"item", "head", "score"} <= set(adapter.scores(ds).columns)
    r = adapter.rankings(ds)
    assert list(r.columns) == ["group", "tree", "annotator", "ranking"] and (r["ranking"].map(len) >= 2).all()
    # every ranked reply is a message of the set's tree, best first by the export's rank
    m = ds.messages.set_index("message_id")
    first = r.iloc[0]
    ranks = m.loc[list(first["ranking"]), "rank"].tolist()
    assert ranks == sorted(ranks) and set(m.loc[list(first["ranking"]), "message_tree_id"]) == {first["tree"]}


def test_label_analyses_take_a_table_in_place_of_a_dataset():
    ds = oq.load_sample()
    # a table from elsewhere: the same numbers under the generic names, rows shuffled
    table = ds.labels.rename(columns={"message_id": "item"}).sample(frac=1, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        published.agreement_from_labels(ds, n_resamples=50), published.agreement_from_labels(table, n_resamples=50)
    )
    pd.testing.assert_frame_equal(published.posterior_summary(ds), published.posterior_summary(table))
    pd.testing.assert_frame_equal(published.default_zero_bias(ds), published.default_zero_bias(table))
    post = published.oasst_posteriors(table).sort_values(["label", "item"]).reset_index(drop=True)
    expected = published.oasst_posteriors(ds).sort_values(["label", "item"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(post, expected)
    # the ranked sets counted straight from the messages: replies with a rank, by parent, two or more
    sizes = ds.messages.dropna(subset=["rank", "parent_id"]).groupby("parent_id").size()
    summary = cs.ranking_summary(adapter.rankings(ds))
    assert summary["group_sizes"] == {int(k): int(v) for k, v in sizes[sizes >= 2].value_counts().sort_index().items()}


def test_analyses_that_read_two_tables_take_the_tables_once_built():
    from oasst_quality import reward, skew
    from oasst_quality import toxicity as tx

    ds = oq.load_sample()
    t = adapter.tables(ds)
    assert isinstance(t, adapter.Tables) and list(t.problems.columns[:3]) == ["kind", "item", "tree"]
    pd.testing.assert_frame_equal(t.rankings, adapter.rankings(ds))
    assert adapter.labels(t) is t.labels and adapter.messages(t) is t.messages  # no renaming on the way
    a, b = skew.tallies(t), skew.tallies(ds)
    assert a["lang"] == b["lang"]
    pd.testing.assert_frame_equal(a["users"], b["users"])
    for x, y in zip(tx.comparison_tables(t), tx.comparison_tables(ds)):
        pd.testing.assert_frame_equal(x, y)
    pd.testing.assert_frame_equal(reward.preference_data(t), reward.preference_data(ds))
    pd.testing.assert_frame_equal(adapter.annotations(t).votes, adapter.annotations(ds).votes)
