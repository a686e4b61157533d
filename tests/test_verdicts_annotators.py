"""Suspect annotators on planted crowds whose bad annotators are known, and the laws the scores obey."""

import sys
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oasst_quality.errors import UsageError
from oasst_quality.verdicts import annotators as va

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import planted_crowds


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_uniform_spammers_among_honest_annotators(seed):
    # the crowd: 200 honest at accuracy 0.75 with ~20 votes, 10 uniform spammers with 50 (15 votes per item)
    votes, planted = planted_crowds.votes(votes_per_item=15, seed=seed)
    out = va.vote_verdicts(votes)
    sus = out[out["verdict"] == "suspect"]
    spam = sus["annotator"].isin(list(planted))
    assert (~spam).sum() <= 10 and (sus.loc[spam, "rule"] == "random_answering").sum() >= 7, sus


def test_constant_and_reversed_on_a_five_point_scale_under_their_own_rules():
    votes, planted = planted_crowds.votes(
        bad={"constant": 3, "reversed": 3}, k=5, ordered=True, accuracy=0.6, votes_per_item=10, seed=3
    )
    out = va.vote_verdicts(votes, levels="ordinal").set_index("annotator")
    for who, kind in planted.items():
        assert out.loc[who, "verdict"] == "suspect"
        assert out.loc[who, "rule"] == {"constant": "constant_answering", "reversed": "reversed_scale"}[kind]
    assert (out.drop(list(planted))["verdict"] == "suspect").sum() <= 2
    rev = out.loc[[w for w, k in planted.items() if k == "reversed"]]
    assert (rev["high"] < 0).all()  # reliability below zero: the scale is reversed, not random
    assert (
        out.loc[[w for w, k in planted.items() if k == "constant"], "evidence"]
        .str.contains("50 of 50 answer votes are 2")
        .all()
    )


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_a_constant_at_any_value_on_any_label_name(value):
    votes, _ = planted_crowds.votes(bad={}, k=5, ordered=True, accuracy=0.6, votes_per_item=10, seed=4)
    votes["value"] = votes["value"] / 4  # a 0..1 grid under a name outside the OASST catalog
    votes["label"] = "my_rating"
    items = votes["item"].drop_duplicates().sample(40, random_state=0)
    lazy = pd.DataFrame({"item": items, "annotator": "lazy", "label": "my_rating", "value": value})
    out = va.vote_verdicts(pd.concat([votes, lazy], ignore_index=True)).set_index("annotator")
    assert out.loc["lazy", "verdict"] == "suspect" and out.loc["lazy", "rule"] == "constant_answering"
    honest = out.drop("lazy")
    assert np.isfinite(honest[["reliability", "low", "high"]].to_numpy(float)).all()
    # one value only: no reliability to measure (not ±inf, not a zero-width interval)
    assert out.loc["lazy", ["reliability", "low", "high"]].isna().all()
    assert "n = 40 compared votes" in out.loc["lazy", "evidence"]
    assert "reliability not measurable" in out.loc["lazy", "evidence"]


def test_verdicts_do_not_depend_on_how_ids_sort():
    # a class label and a continuous one, both with planted bad annotators; then every annotator and
    # item renamed so that the ids sort in the reverse order, and the rows reversed
    votes, _ = planted_crowds.votes(votes_per_item=10, seed=5)
    ratings, _ = planted_crowds.ratings(bad={"random": 2, "reversed": 1, "constant": 1, "compressed": 1}, seed=5)
    votes = pd.concat([votes, ratings], ignore_index=True)
    levels = {"answer": "nominal", "affect": "interval"}
    a = va.vote_verdicts(votes, levels=levels).set_index("annotator").sort_index()
    who = {w: f"zz{i:04d}" for i, w in enumerate(sorted(votes["annotator"].unique(), reverse=True))}
    what = {m: f"it{i:05d}" for i, m in enumerate(sorted(votes["item"].unique(), reverse=True))}
    renamed = votes.assign(annotator=votes["annotator"].map(who), item=votes["item"].map(what)).iloc[::-1]
    b = va.vote_verdicts(renamed, levels=levels)
    b = b.assign(annotator=b["annotator"].map({v: k for k, v in who.items()})).set_index("annotator").sort_index()
    assert (a["verdict"] == "suspect").sum() >= 5
    pd.testing.assert_series_equal(a["verdict"], b["verdict"])
    pd.testing.assert_series_equal(a["rule"], b["rule"])
    np.testing.assert_allclose(a["reliability"], b["reliability"], atol=1e-9)


def test_continuous_ratings_under_the_noise_scale_rules():
    votes, planted = planted_crowds.ratings(
        bad={"random": 3, "reversed": 2, "constant": 2, "compressed": 2, "noisy": 2}, votes_per_bad=200, seed=1
    )
    out = va.vote_verdicts(votes, levels="interval").set_index("annotator")
    rule = {"random": "random_answering", "reversed": "reversed_scale", "constant": "constant_answering"}
    for who, kind in planted.items():
        if kind == "compressed":  # named for it, and not a suspect: the ratings keep their information
            assert out.loc[who, "rule"] == "compressed_scale" and out.loc[who, "verdict"] == "ok", out.loc[who]
        elif kind == "noisy":  # four times the noise SD, clipped to the scale: near the rule's 2x in consensus units
            assert out.loc[who, "rule"] in ("noisy_ratings", "random_answering", ""), out.loc[who]
        else:
            assert out.loc[who, "verdict"] == "suspect" and out.loc[who, "rule"] == rule[kind], out.loc[who]
    noisy = out.loc[[w for w, k in planted.items() if k == "noisy"]]
    assert (noisy["rule"] == "noisy_ratings").sum() >= 1
    assert noisy["evidence"].str.contains("P\\(noise SD at most 2x the typical rater's\\)").any()
    honest = out.drop(list(planted))
    assert (honest["verdict"] == "suspect").sum() <= 1 and (honest["verdict"] == "ok").mean() > 0.9
    assert (honest["rule"] == "compressed_scale").sum() <= 1


def test_a_numeric_label_beside_a_text_label_is_read_as_numbers():
    # a text label makes the shared value column object dtype: the 0..100 label is still continuous,
    # with the same verdicts as on its own
    ratings, planted = planted_crowds.ratings(bad={"reversed": 2, "constant": 1}, seed=1)
    n = 300
    text = pd.DataFrame(
        {
            "item": [f"x{i // 3}" for i in range(n)],
            "annotator": [f"t{i % 7}" for i in range(n)],
            "label": "answer",
            "value": np.where(np.arange(n) % 2 == 0, "yes", "no"),
        }
    )
    mixed = pd.concat([ratings, text], ignore_index=True)
    assert mixed["value"].dtype == object
    # inferred per label too: fractions beside text are interval, as on their own
    fractions = pd.concat([ratings.assign(value=ratings["value"] / 100 + 0.005), text], ignore_index=True)
    assert va.levels_for(fractions) == {"affect": "interval", "answer": "nominal"}
    alone = va.vote_verdicts(ratings, levels="interval").set_index("annotator")
    both = va.vote_verdicts(mixed, levels={"affect": "interval", "answer": "nominal"}).set_index("annotator")
    both = both.loc[alone.index]
    pd.testing.assert_series_equal(alone["verdict"], both["verdict"])
    pd.testing.assert_series_equal(alone["rule"], both["rule"])
    np.testing.assert_allclose(alone["reliability"], both["reliability"], atol=1e-9)
    # read as ordinal classes, the 101-value scale is binned beside text as on its own
    on_its_own = va._classes(ratings["value"], "ordinal")
    beside_text = va._classes(mixed.loc[mixed["label"] == "affect", "value"], "ordinal")
    assert on_its_own[1].size == 9
    np.testing.assert_array_equal(on_its_own[0], beside_text[0])
    np.testing.assert_array_equal(on_its_own[1], beside_text[1])
    assert (alone.loc[list(planted), "verdict"] == "suspect").all()


def test_annotators_without_comparisons_get_insufficient_data():
    one_each = pd.DataFrame(  # a continuous label where no item has two ratings, and a class label likewise
        {
            "item": [f"i{j}" for j in range(40)],
            "annotator": ["a", "b"] * 20,
            "label": ["affect"] * 20 + ["answer"] * 20,
            "value": list(np.linspace(0, 100, 20)) + [0, 1] * 10,
        }
    )
    out = va.vote_verdicts(one_each, levels={"affect": "interval", "answer": "nominal"})
    assert set(out["verdict"]) == {"insufficient data"} and (out["n_compared"] == 0).all()
    assert out["evidence"].map(type).eq(str).all()


def test_honest_crowd_without_bad_annotators_gets_no_suspects():
    votes, _ = planted_crowds.votes(bad={}, votes_per_item=10, seed=6)
    out = va.vote_verdicts(votes)
    assert (out["verdict"] == "suspect").sum() <= 2 and (out["verdict"] == "ok").mean() > 0.8
    # ~20 votes cannot pin a reliability down: every interval has a width (the crowd's annotators
    # are all alike here, which made the fitted prior a point and the intervals [1.00, 1.00])
    assert (out["low"] < out["high"]).all() and (out["high"] - out["low"]).median() > 0.2


def test_rankers_at_chance_reversed_and_copying_under_their_own_rules():
    table, planted = planted_crowds.rankings(bad={"chance": 4, "reversed": 3, "copier": 3}, seed=0)
    out = va.ranking_verdicts(table).set_index("annotator")
    rule = {"chance": "rankings_at_chance", "reversed": "reversed_rankings", "copier": "copies_displayed_order"}
    for who, kind in planted.items():
        assert out.loc[who, "verdict"] == "suspect" and out.loc[who, "rule"] == rule[kind], out.loc[who]
    assert (out.drop(list(planted))["verdict"] == "suspect").sum() <= 10


def test_ranker_verdicts_do_not_depend_on_how_reply_ids_sort():
    table, _ = planted_crowds.rankings(bad={"chance": 3, "reversed": 2}, seed=1)
    # rename every reply so that ids sort in the true quality order, and again in the reverse order
    outs = []
    for direction in (1, -1):
        names = {
            m: f"{g}-{direction * pos + 100:03d}"
            for g, order in table.attrs["truth"].items()
            for pos, m in enumerate(order)
        }
        renamed = table.assign(ranking=[tuple(names[m] for m in r) for r in table["ranking"]])
        outs.append(va.ranking_verdicts(renamed).set_index("annotator").sort_index())
    pd.testing.assert_frame_equal(outs[0][["verdict", "rule"]], outs[1][["verdict", "rule"]])
    np.testing.assert_allclose(outs[0]["reliability"], outs[1]["reliability"])


def test_an_unranked_reply_makes_no_comparison():
    table = pd.DataFrame(
        {"group": ["g"] * 3, "annotator": ["a", "b", "c"], "ranking": [("x", "y", "z"), ("x", "y"), ("x", "y", "z")]}
    )
    sc = va.ranking_scores(table)
    # b names x, y only: one compared pair (x > y, the others agree)
    assert sc.loc[1, "n_pairs"] == 1 and sc.loc[1, "s"] == 1 and sc.loc[1, "var0"] == pytest.approx(1.0)
    # a: x>y (others a tie? no: b and c both x>y), x>z and y>z only c compares: three pairs
    assert sc.loc[0, "n_pairs"] == 3 and sc.loc[0, "s"] == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.permutations(list("abcde")), min_size=2, max_size=5), st.integers(2, 5))
def test_the_null_mean_and_variance_of_s_are_exact(others, k):
    """Over all k! orders of a random ranker, S has mean 0 and variance (Q + R) / 3."""
    others = [tuple(o[:k]) for o in others]
    cands = sorted(others[0])
    s_values = []
    for perm in permutations(cands):
        table = pd.DataFrame(
            {"group": "g", "annotator": [f"o{i}" for i in range(len(others))] + ["r"], "ranking": [*others, perm]}
        )
        sc = va.ranking_scores(table)
        s_values.append(sc["s"].iloc[-1])
        var0 = sc["var0"].iloc[-1]
    assert np.mean(s_values) == pytest.approx(0.0, abs=1e-12)
    assert np.var(s_values) == pytest.approx(var0)


def test_levels_declared_or_inferred():
    votes = pd.DataFrame(
        {
            "item": [1, 2, 3, 1, 2, 3, 1, 2, 3],
            "annotator": list("aaabbbccc"),
            "label": ["breed"] * 3 + ["quality"] * 3 + ["score"] * 3,
            "value": [0, 3, 2, 0.25, 0.5, 1.0, 0.3, 0.7, 0.9],
        }
    )
    assert va.levels_for(votes) == {"breed": "nominal", "quality": "interval", "score": "interval"}
    assert va.levels_for(votes, {"breed": "ordinal"})["breed"] == "ordinal"
    assert va.infer_level("x", pd.Series(["cat", "dog", "cow"])) == "nominal"
    assert va.infer_level("spam", pd.Series([0, 1, 1])) == "nominal"
    with pytest.raises(UsageError):
        va.levels_for(votes, "ratio")
    with pytest.raises(UsageError):
        va.vote_verdicts(votes, fdr=0)


def test_the_annotators_command_on_a_planted_backend_export(tmp_path, capsys):
    import json

    import planted_export

    import oasst_quality as oq
    from oasst_quality.cli import main

    labels, reactions = planted_export.generate(oq.load_sample(), swap=0.0)
    lp, rp = tmp_path / "text_labels.jsonl", tmp_path / "reactions.jsonl"
    lp.write_text("".join(json.dumps(r) + "\n" for r in labels))
    rp.write_text("".join(json.dumps(r) + "\n" for r in reactions))
    assert main(["annotators", str(lp), "--rankings", str(rp), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    found = {(r["annotator"], r["rule"]) for r in payload["suspects"]}
    assert found == set(planted_export.PLANTED.items())
    assert {r["verdict"] for r in payload["annotators"] if r["annotator"].startswith(("lab-", "rank-"))} == {"ok"}
    assert payload["levels"]["quality"] == {"level": "interval", "declared": False}
    assert main(["annotators", str(lp), "--level", "ordinal", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["levels"]["quality"]["declared"] is True


def test_a_shared_dawid_skene_fit_gives_the_verdicts_of_their_own():
    # per_annotator.summarize hands its Dawid-Skene fits to the verdicts; the fit on other votes is not used
    from oasst_quality import aggregation as agg
    from oasst_quality.coding import encode

    votes, _ = planted_crowds.votes(bad={"constant": 2, "reversed": 2}, k=5, ordered=True, votes_per_item=8, seed=4)
    votes = votes.assign(label="answer")
    coded = encode(votes)
    fit = agg.DawidSkene().fit_ratings(coded)
    own = va.vote_verdicts(votes, levels="ordinal")
    shared = va.vote_verdicts(votes, levels="ordinal", fits={"answer": (fit, coded)})
    pd.testing.assert_frame_equal(shared, own, rtol=1e-9, atol=1e-12)
    changed = votes.copy()  # as many votes, one of them another answer: not the same votes
    values = np.sort(changed["value"].unique())
    changed.iloc[0, changed.columns.get_loc("value")] = values[values != changed["value"].iloc[0]][0]
    other = encode(changed)
    elsewhere = agg.DawidSkene().fit_ratings(other)
    pd.testing.assert_frame_equal(
        va.vote_verdicts(votes, levels="ordinal", fits={"answer": (elsewhere, other)}), own, check_exact=True
    )


def test_the_verdicts_fit_no_dawid_skene_of_their_own_when_handed_one_on_their_votes(monkeypatch):
    from oasst_quality import aggregation as agg
    from oasst_quality.coding import encode

    votes, _ = planted_crowds.votes(k=5, ordered=True, votes_per_item=8, seed=4)
    votes = votes.assign(label="answer")
    coded = encode(votes)
    fit = agg.DawidSkene().fit_ratings(coded)
    other = encode(votes.iloc[1:])  # other votes: a fit on them is not the verdicts' model
    elsewhere = agg.DawidSkene().fit_ratings(other)
    calls = []
    fit_once = agg.DawidSkene._fit
    monkeypatch.setattr(agg.DawidSkene, "_fit", lambda self, c: (calls.append(1), fit_once(self, c))[1])
    va.vote_verdicts(votes, levels="ordinal", fits={"answer": (fit, coded)})
    assert calls == []
    va.vote_verdicts(votes, levels="ordinal", fits={"answer": (elsewhere, other)})
    assert calls == [1]


def test_the_verdicts_from_ids_coded_once_are_the_verdicts():
    """Codes: the items, annotators and labels coded once give the same tables as coding them here."""
    votes, _ = planted_crowds.votes(bad={"constant": 2, "reversed": 2}, k=5, ordered=True, votes_per_item=8, seed=6)
    flags, _ = planted_crowds.votes(votes_per_item=6, seed=7)
    continuous = votes.assign(label="score", value=votes["value"] + np.random.default_rng(0).normal(0, 0.3, len(votes)))
    parts = [votes.assign(label="quality", value=votes["value"] / 4), flags.assign(label="spam"), continuous]
    columns = ["item", "annotator", "label", "value"]
    table = pd.concat([pd.DataFrame({c: p[c].to_numpy() for c in columns}) for p in parts], ignore_index=True)
    # some votes without an annotator: summary must drop the codes (they number the whole table) once
    # it leaves those rows out, so this case checks the codes are not misapplied to fewer rows
    anonymous = table.assign(annotator=table["annotator"].where(table.index % 50 > 0))
    for votes in (table, table[table["label"] != "score"].reset_index(drop=True), anonymous):
        got, want = va.summary(votes, codes=va.Codes.of(votes)), va.summary(votes)
        pd.testing.assert_frame_equal(got["annotators"], want["annotators"])
        assert got["levels"] == want["levels"] and len(got["levels"]) == votes["label"].nunique()


# ---------------------------------------------------------------- the shortcuts give numpy's and pandas' own bits


@pytest.mark.parametrize("K", range(2, 12))
def test_the_class_major_softmax_is_scipys_to_the_bit(K):
    from scipy import special

    rng = np.random.default_rng(K)
    x = rng.normal(0, 10, (K, 5000)) * 10 ** rng.uniform(-3, 1, (K, 5000))
    got = va._softmax_classes(x.copy())
    assert got.flags.c_contiguous and np.array_equal(got, special.softmax(np.ascontiguousarray(x.T), axis=1))


@pytest.mark.parametrize("shape", [(1, 5), (2, 2), (7, 3), (1000, 5), (40, 38), (4097, 19)])
def test_einsum_adds_rows_in_order_as_sum_over_axis_0_does(shape):
    # _loglik's per-cell and per-label sums over votes (numpy's einsum: its fast loop, the same order)
    rng = np.random.default_rng(0)
    x = rng.random(shape) * 10 ** rng.uniform(-8, 8, shape)
    assert np.array_equal(np.einsum("vk->k", x), x.sum(axis=0))


def test_ids_factorized_by_runs_are_pandas_sorted_factorization():
    ids = [f"m{i:03d}" for i in np.random.default_rng(0).permutation(300)]
    runs = pd.Series(np.repeat(ids, 4), dtype=object)
    odd = [
        runs,
        runs.sample(frac=1, random_state=0).reset_index(drop=True),
        pd.Series(["b", "a", "a", None, None, "c", np.nan, "b"], dtype=object),
        pd.Series(["é", "e", "z", chr(0), "a" + chr(0), "a", "\U0001f600", "\uffff"], dtype=object),
        pd.Series([chr(0xD800), "a", "a"], dtype=object),  # no UTF-8: pandas sorts
        pd.Series([3, 1, 1, 2.0, 2, None], dtype=object),
        pd.Series(["x", 1, 1, "y"], dtype=object),
        pd.Series([b"a", "a", b"b"], dtype=object),
        pd.Series([1, 2, 2, 1]),
        pd.Series(["b", "a", "a"], dtype="string"),
        pd.Series(["a"], dtype=object),
    ]
    for s in odd:
        (code, names), (want, want_names) = va._factorize_runs(s), pd.factorize(s, sort=True)
        assert code.dtype == want.dtype and np.array_equal(code, want), s.tolist()
        assert type(names) is type(want_names) and names.dtype == want_names.dtype and names.equals(want_names)


def test_a_fits_items_matched_by_position_as_by_id():
    ids = pd.Index([f"m{i:03d}" for i in range(50)])
    at = np.array([7, 3, 9, 12, 4])  # a label's items, in their order of first appearance
    held = ids[np.sort(at)]  # a fit's: the same, sorted
    assert np.array_equal(va._sorted_positions(held, (at, ids)), held.get_indexer(ids[at]))
    assert va._sorted_positions(ids[[3, 4, 7, 9, 13]], (at, ids)) is None  # other items
    assert va._sorted_positions(ids[[3, 4, 7, 9]], (at, ids)) is None  # fewer
    assert va._sorted_positions(held, None) is None
