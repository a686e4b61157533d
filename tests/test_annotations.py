"""Per-annotator votes and rankings: every input form, located errors, lenient quarantine."""

import json

import numpy as np
import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality import adapter
from oasst_quality import annotations as an
from oasst_quality.errors import SchemaError, UsageError
from oasst_quality.schema import FLAG_LABELS


def test_long_votes_csv_round_trips(tmp_path):
    votes = pd.DataFrame(
        {
            "message_id": ["m1", "m1", "m2"],
            "annotator": ["a", "b", "a"],
            "label": ["quality", "quality", "spam"],
            "value": [0.75, 0.5, 1.0],
            "created_date": ["2023-02-05T14:23:50+00:00", "", "2023-02-06T10:00:00Z"],
        }
    )
    for name in ("votes.csv", "votes.tsv", "votes.parquet"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            votes.to_parquet(path)
        else:
            votes.to_csv(path, sep="\t" if name.endswith(".tsv") else ",", index=False)
        got = an.read_votes(path).votes
        assert got[["item", "annotator", "label", "value"]].values.tolist() == [
            ["m1", "a", "quality", 0.75],
            ["m1", "b", "quality", 0.5],
            ["m2", "a", "spam", 1.0],
        ]
        assert got["count"].tolist() == [1, 1, 1] and got["time"].isna().tolist() == [False, True, False]
    assert an.read_votes(votes).votes["item"].tolist() == ["m1", "m1", "m2"]  # a DataFrame works as well


def test_crowd_kit_columns_hold_the_value_in_label():
    crowd = pd.DataFrame({"task": [1, 1, 2], "worker": ["w1", "w2", "w1"], "label": [0, 1, 1]})
    votes = an.read_votes(crowd, default_label="relevant").votes
    assert votes[["item", "annotator", "label", "value"]].values.tolist() == [
        ["1", "w1", "relevant", 0.0],
        ["1", "w2", "relevant", 1.0],
        ["2", "w1", "relevant", 1.0],
    ]


def test_bad_vote_rows_are_located_or_set_aside(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label,value\nm1,a,quality,0.5\nm2,,quality,0.5\nm3,b,quality,high\n")
    with pytest.raises(SchemaError, match=r"votes.csv, line 3, field 'annotator': missing annotator id"):
        an.read_votes(path)
    got = an.read_votes(path, lenient=True)
    assert got.votes["item"].tolist() == ["m1"]
    assert got.rejected[["line", "field"]].values.tolist() == [[3, "annotator"], [4, "value"]]
    assert '"high"' in got.rejected["raw"].iloc[1]
    with pytest.raises(SchemaError, match="no item column"):
        an.read_votes(pd.DataFrame({"x": [1], "annotator": ["a"], "value": [1]}))


def test_rankings_parse_ties_and_round_trip(tmp_path):
    table = pd.DataFrame({"parent_id": ["p", "p"], "annotator": ["a", "b"], "ranking": ["x>y=z", "z>x>y"]})
    got = an.read_rankings(table).rankings
    assert got["group"].tolist() == ["p", "p"]
    assert got["ranking"].tolist() == [("x", frozenset({"y", "z"})), ("z", "x", "y")]
    assert [an.format_ranking(r) for r in got["ranking"]] == ["x>y=z", "z>x>y"]
    path = tmp_path / "rankings.csv"
    table.assign(ranking=["x>y>x", "z>x>y"]).to_csv(path, index=False)
    with pytest.raises(SchemaError, match=r"line 2, field 'ranking': an id appears twice"):
        an.read_rankings(path)
    assert len(an.read_rankings(path, lenient=True).rankings) == 1


def test_backend_rows(tmp_path):
    labels = [
        {"message_id": "m1", "user_id": "u1", "labels": {"spam": 0, "quality": 0.75}, "created_date": "2023-02-05"},
        {"message_id": "m1", "user_id": "u2", "labels": {"spam": 1}},
        {"message_id": "m2", "user_id": "u1", "labels": {"quality": "good"}},
    ]
    reactions = [
        {
            "message_id": "p",
            "user_id": "u1",
            "payload_type": "RankingReactionPayload",
            "payload": {"type": "message_ranking", "ranking": [1, 0], "ranked_message_ids": ["m2", "m1"]},
        },
        {"message_id": "p", "user_id": "u2", "payload": {"payload": {"type": "message_rating", "rating": "+1"}}},
        {
            "message_id": "p",
            "user_id": "u2",
            "payload": {
                "payload": {"type": "message_ranking", "ranked_message_ids": ["m1", "m2"], "ranking_parent_id": "p"}
            },
        },
    ]
    lp, rp = tmp_path / "text_labels.jsonl", tmp_path / "reactions.jsonl"
    lp.write_text("".join(json.dumps(r) + "\n" for r in labels))
    rp.write_text("".join(json.dumps(r) + "\n" for r in reactions))
    with pytest.raises(SchemaError, match=r"text_labels.jsonl, line 3, field 'labels.quality'"):
        an.from_backend(lp, rp)
    got = an.from_backend(lp, rp, lenient=True)
    assert sorted(got.votes[["item", "annotator", "label", "value"]].values.tolist()) == [
        ["m1", "u1", "quality", 0.75],
        ["m1", "u1", "spam", 0.0],
        ["m1", "u2", "spam", 1.0],
    ]
    assert got.rankings[["group", "annotator"]].values.tolist() == [["p", "u1"], ["p", "u2"]]
    assert got.rankings["ranking"].tolist() == [("m2", "m1"), ("m1", "m2")]  # the rating reaction is skipped
    assert len(got.rejected) == 1 and got.summary()["n_annotators"] == 2


def test_dataset_aggregates_expand_flags_exactly():
    ds = oq.load_sample()
    got = adapter.annotations(ds)
    v = got.votes
    flags = v[v["label"].isin(FLAG_LABELS)]
    assert (flags["count"] == 1).all() and flags["annotator"].isna().all()
    # every flag's yes votes and vote count come back exactly
    per = flags.groupby(["item", "label"])["value"].agg(["sum", "size"])
    src = ds.labels.set_index(["message_id", "label"]).loc[per.index]
    assert np.allclose(per["sum"], src["value"] * src["count"]) and (per["size"] == src["count"]).all()
    likert = v[v["label"] == "quality"]
    assert (likert["count"] > 1).any() and likert["annotator"].isna().all()  # means of several votes stay whole
    assert len(got.rankings) == 418 and got.rankings["annotator"].isna().all()
    # the flag agreement computed from the expanded votes equals the value x count path
    from oasst_quality import agreement as ag
    from oasst_quality import published

    spam = flags[flags["label"] == "spam"]
    counts = spam.groupby("item")["value"].agg(["sum", "size"])
    vc = np.column_stack([counts["size"] - counts["sum"], counts["sum"]])
    table = published.agreement_from_labels(ds, labels=["spam"], n_resamples=10)
    assert ag.fleiss_kappa(value_counts=vc) == pytest.approx(table["fleiss_kappa"].iloc[0])


def test_check_items_against_the_messages():
    ds = oq.load_sample()
    mid = ds.messages["message_id"].iloc[0]
    votes = an.read_votes(pd.DataFrame({"item": [mid, "nope"], "annotator": ["a", "a"], "value": [1, 0]}))
    with pytest.raises(
        SchemaError, match="field 'item': row 2 of its votes table: item is not a message of the dataset"
    ):
        an.check_items(votes, ds.messages["message_id"])
    kept = an.check_items(votes, ds.messages["message_id"], lenient=True)
    assert kept.votes["item"].tolist() == [mid] and kept.rejected["detail"].tolist() == [
        "item is not a message of the dataset"
    ]


#: The prompt and its three ranked replies (of the bundled sample) that docs/examples/ annotate.
EXAMPLE_PROMPT = "00353343-a4a5-4fb0-96fd-02f529a55181"
EXAMPLE_REPLIES = (
    "b7efe31a-d590-45ca-8d2c-bbac8fa3953c",
    "f159369c-4725-4b46-96aa-c643ce92e292",
    "03d70f1b-4efb-4ab3-8832-41b14709b44c",
)


def test_the_documented_example_files_read_as_described():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "docs" / "examples"
    r1, r2, r3 = EXAMPLE_REPLIES  # replies of one prompt of the bundled sample
    votes = an.read_votes(examples / "votes.csv").votes
    assert len(votes) == 4 and set(votes["label"]) == {"quality", "spam"} and votes["time"].notna().all()
    assert an.read_votes(examples / "crowdkit.csv").votes["value"].tolist() == [1.0, 0.0, 1.0]
    rankings = an.read_rankings(examples / "rankings.csv").rankings
    assert rankings["ranking"].tolist() == [(r1, frozenset({r2, r3})), (r2, r1, r3)]
    backend = an.from_backend(examples / "text_labels.jsonl", examples / "reactions.jsonl")
    assert backend.summary() == {
        "n_votes": 5,
        "n_vote_rows": 5,
        "labels": ["quality", "spam", "toxicity"],
        "n_annotators": 2,
        "n_ranked_groups": 1,
        "n_rankings": 2,
        "n_rejected": 0,
    }
    assert backend.rankings["ranking"].tolist() == [(r2, r1, r3), (r1, r2, r3)]
    for name in ("votes.csv", "rankings.csv", "text_labels.jsonl", "reactions.jsonl", "label_studio.json"):
        # every id is a message of the bundled sample (the Label Studio ratings are stars, 1 to 5)
        stars = (1, 5) if name == "label_studio.json" else None
        oq.load_sample().with_annotations(an.read(examples / name, scale=stars))


def test_dialog_sets_through_the_votes_path(shared):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import dialog_sets

    kappas = dialog_sets.pandalm_kappas(dialog_sets.pandalm().votes)
    assert {k: round(v, 2) for k, v in kappas.items()} == {
        "annotator1-annotator2": 0.85,
        "annotator1-annotator3": 0.88,
        "annotator2-annotator3": 0.86,
    }
    fed = dialog_sets.fed()
    assert len(fed.rejected) == 167 and fed.rejected["raw"].str.contains("N/A").all()  # the free-text ratings
    usr = dialog_sets.usr().votes
    assert usr.groupby("item")["annotator"].nunique().eq(3).all() and usr["annotator"].nunique() == 4


def test_label_studio_export(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "label_studio.json"
    with pytest.raises(SchemaError, match=r"field 'task 1.quality': .*Likert vote \(quality\) lies in \[0, 1\], got 4"):
        an.read(path)  # its ratings are stars, 1 to 5: the scale must be declared
    got = an.read(path, scale=(1, 5))  # a .json file is read as a Label Studio export
    mid, (r1, r2, r3) = EXAMPLE_PROMPT, EXAMPLE_REPLIES
    assert sorted(got.votes[["item", "annotator", "label", "value"]].values.tolist()) == [
        [mid, "10", "quality", 4.0],
        [mid, "10", "spam", 0.0],
        [mid, "11", "better", 1.0],
        [mid, "11", "quality", 3.0],
        [mid, "11", "spam", 1.0],
    ]  # the cancelled annotation is skipped
    assert got.rankings[["group", "annotator", "ranking"]].values.tolist() == [[mid, "10", (r2, r1, r3)]]
    tasks = json.loads(path.read_text())
    tasks[0]["annotations"][0]["result"][0]["value"] = {"choices": ["Maybe"]}
    with pytest.raises(SchemaError, match=r"line 1, field 'task 1.spam': unreadable choices result"):
        an.from_label_studio(tasks, scale=(1, 5))
    lenient = an.from_label_studio(tasks, scale=(1, 5), lenient=True)
    assert len(lenient.rejected) == 1 and len(lenient.votes) == 4
    assert an.from_label_studio(tasks, scale=(1, 5), choice_values={"maybe": 1}).votes["value"].tolist()[0] == 1.0
    with pytest.raises(SchemaError, match=r"a flag vote \(spam\) is 0 or 1, got 0.5"):  # as the export loader
        an.from_label_studio(tasks, scale=(1, 5), choice_values={"maybe": 0.5})


def test_votes_keep_the_export_s_value_rules(tmp_path):
    """Flags 0 or 1, Likert in [0, 1] unless a scale is declared, Detoxify scores in [0, 1]: located
    errors, or in lenient mode rows set aside and counted; labels outside the catalog take any number."""
    rows = [
        ("m1", "a", "spam", -1),
        ("m1", "b", "spam", 7),
        ("m1", "c", "spam", 1e300),
        ("m1", "d", "spam", 1),
        ("m1", "a", "quality", 0.75),
        ("m1", "b", "quality", 4),
        ("m1", "c", "insult", 7.5),
        ("m1", "d", "stars", 4),  # not an OASST label: any number
    ]
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label,value\n" + "".join(f"{i},{a},{lab},{v}\n" for i, a, lab, v in rows))
    with pytest.raises(SchemaError, match=r"line 2, field 'value': a flag vote \(spam\) is 0 or 1, got -1"):
        an.read_votes(path)
    lenient = an.read_votes(path, lenient=True)
    assert lenient.rejected["line"].tolist() == [2, 3, 4, 7, 8]
    assert "a Detoxify score (insult) lies in [0, 1], got 7.5" in lenient.rejected["detail"].iloc[-1]
    assert len(lenient.votes) + len(lenient.rejected) == len(rows)
    scaled = an.read_votes(path, scale=(0, 5), lenient=True)  # a declared scale for the Likert labels
    assert scaled.rejected["line"].tolist() == [2, 3, 4, 8]
    with pytest.raises(UsageError, match="scale must be"):
        an.read_votes(path, scale=(5, 1))
    backend = [{"message_id": "m1", "user_id": "u", "labels": {"spam": 0, "quality": 1.5}}]
    with pytest.raises(SchemaError, match=r"records, line 1, field 'labels.quality': a Likert vote"):
        an.from_backend(text_labels=backend)
    assert len(an.from_backend(text_labels=backend, lenient=True).rejected) == 1


def test_control_characters_in_annotation_ids_are_located(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,value\nm1,a,1\nm1,a\x00,0\n")
    with pytest.raises(SchemaError, match=r"line 3, field 'annotator': control character U\+0000"):
        an.read_votes(path)
    ranks = tmp_path / "ranks.csv"
    ranks.write_text("group,annotator,ranking\np,a,r1>r\x1b2\n")
    with pytest.raises(SchemaError, match=r"control character U\+001B"):
        an.read_rankings(ranks)


def test_backend_json_lines_gzip_in_any_case_and_not_utf8_located(tmp_path):
    import gzip

    row = json.dumps({"message_id": "m1", "user_id": "u1", "labels": {"spam": 0}}) + "\n"
    upper = tmp_path / "votes.JSONL.GZ"
    upper.write_bytes(gzip.compress(row.encode()))
    assert an.read(upper).votes[["item", "annotator", "label", "value"]].values.tolist() == [["m1", "u1", "spam", 0.0]]
    bad = tmp_path / "votes.jsonl"
    bad.write_bytes(row.encode() + b'{"message_id": "m\xff2", "user_id": "u1", "labels": {"spam": 1}}\n' + row.encode())
    for load in (an.read, lambda p: an.from_backend(text_labels=p)):
        with pytest.raises(SchemaError, match="not UTF-8") as err:
            load(bad)
        assert (err.value.path, err.value.line) == (str(bad), 2)
    kept = an.read(bad, lenient=True)
    assert len(kept.votes) == 2 and kept.rejected["line"].tolist() == [2]
    assert "\ufffd" in kept.rejected["raw"].iloc[0]


def test_cli_exits_2_on_annotations_that_are_not_utf8(tmp_path, capsys):
    from oasst_quality.cli import main

    bad = tmp_path / "votes.jsonl"
    row = b'{"message_id": "m1", "user_id": "u1", "labels": {"spam": 1}}\n'
    bad.write_bytes(row + row.replace(b"m1", b"m\xff1"))
    assert main(["flags", "--annotations", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 2" in err[0] and "not UTF-8" in err[0]


def test_csv_tables_read_by_arrow_as_pandas_reads_them(tmp_path):
    """Arrow's reader gives pandas' table (dtype=str, blanks kept) or hands the file to pandas."""
    files = {
        "bom.csv": b"\xef\xbb\xbfitem,annotator,label,value\na,b,spam,1\n",
        "quoted.csv": b'item,annotator,label,value\n"a,x",b,spam,1\n\n"q\nr",b,spam,0\n',
        "crlf.csv": b"item,annotator,label,value\r\na,,spam,\r\n",
        "header.csv": b"item,annotator,label,value\n",
        "tabs.tsv": b"item\tannotator\tlabel\tvalue\na\tb\tspam\t1\n",
    }
    pandas_only = {  # a short or long row, a repeated or blank column name, bytes that are not UTF-8, no header
        "few.csv": b"item,annotator,label,value\na,b,spam\n",
        "many.csv": b"item,annotator,label,value\na,b,spam,1,\n",
        "repeat.csv": b"item,item,label,value\na,b,spam,1\n",
        "blank.csv": b"item,,label,value\na,b,spam,1\n",
        "latin.csv": b"item,annotator,label,value\n\xff,b,spam,1\n",
        "empty.csv": b"",
    }
    for name, data in {**files, **pandas_only}.items():
        (tmp_path / name).write_bytes(data)
        sep = "\t" if name.endswith(".tsv") else ","
        got = an._arrow_csv(tmp_path / name, sep)
        assert (got is None) == (name in pandas_only), name
        if got is not None:
            want = pd.read_csv(tmp_path / name, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            pd.testing.assert_frame_equal(got, want)
    with pytest.raises(SchemaError, match="not a readable table"):
        an.read(tmp_path / "latin.csv")


def test_written_rankings_without_ties_parse_as_parse_ranking_reads_them():
    texts = ["a>b>c", " a > b ", "a>b>c", "a>>b", "a>b>a", "a\x01>b", "a>b=c"]
    parsed, problems = an._parse_rankings(pd.Series(texts, dtype=object))
    assert list(parsed) == [("a", "b", "c"), ("a", "b"), ("a", "b", "c"), None, None, None, ("a", frozenset("bc"))]
    assert [p is None for p in problems] == [True, True, True, False, False, False, True]
    assert "empty position" in problems[3] and "appears twice" in problems[4] and "U+0001" in problems[5]


@pytest.mark.parametrize("suffix", [".parquet", ".json"])
def test_tables_with_a_stored_index_read_as_rows_in_order(tmp_path, suffix):
    """A parquet file written from a filtered frame keeps its index, a JSON object its keys: the
    rows are still read in order, each ranking with its own group (not lined up by label)."""
    full = pd.DataFrame(
        {
            "group": ["g1", "g2", "g3", "g4"],
            "annotator": ["a", "b", "a", "b"],
            "ranking": ["x>y", "y>x", "p>q", "q>p"],
            "item": ["m1", "m2", "m3", "m4"],
            "label": "spam",
            "value": [0.0, 1.0, 1.0, 0.0],
        }
    )
    kept = full[full.index % 2 == 1]  # index 1, 3
    path = tmp_path / f"t{suffix}"
    kept.to_parquet(path) if suffix == ".parquet" else kept.to_json(path)
    rankings = an.read_rankings(path).rankings
    assert rankings["group"].tolist() == ["g2", "g4"]
    assert rankings["ranking"].tolist() == [("y", "x"), ("q", "p")]
    votes = an.read_votes(path).votes
    assert votes.index.tolist() == [0, 1] and votes["item"].tolist() == ["m2", "m4"]


def test_a_missing_default_label_is_a_missing_label_name():
    frame = pd.DataFrame({"item": ["m1", "m2"], "annotator": ["a", "b"], "value": [1.0, 0.0]})
    with pytest.raises(SchemaError, match="missing label name"):
        an.read_votes(frame, default_label=None)
    lenient = an.read_votes(frame, default_label=None, lenient=True)
    assert len(lenient.votes) == 0 and len(lenient.rejected) == 2
    assert an.read_votes(frame, default_label="spam").votes["label"].tolist() == ["spam", "spam"]


@pytest.mark.parametrize("scale", [None, (1, 5), (-0.5, 0.5)])
def test_value_rules_worked_out_on_the_array_are_value_problem_s(tmp_path, scale):
    """The rules applied to the distinct numbers at once refuse exactly the votes that
    value_problem refuses, each with its text (the sign of -0 kept)."""
    labels = ["spam", "quality", "toxicity", "insult", "stars", ""]
    values = ["-0", "0", "1", "0.5", "1.000000000001", "-1e-300", "5", "5.5", "-0.5", "0.5000001", "1e300", "inf", "x"]
    rows = [(label, v) for label in labels for v in values]
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label,value\n" + "".join(f"m1,a,{label},{v}\n" for label, v in rows))
    got = an.read_votes(path, scale=scale, lenient=True).rejected
    want = {}
    for line, (label, v) in enumerate(rows, start=2):
        number = float(v) if v != "x" else float("nan")
        if not label:
            want[line] = "missing label name"
        elif not np.isfinite(number):
            want[line] = "value is not a number"
        elif problem := an.value_problem(label, number, scale):
            want[line] = problem
    assert dict(zip(got["line"], got["detail"])) == want
    if scale == (1, 5):  # quality's -0 and 0, each with its sign
        assert want[2 + len(values)] == "a Likert vote (quality) lies in [1, 5], got -0"
        assert want[3 + len(values)] == "a Likert vote (quality) lies in [1, 5], got 0"


def test_arrow_backed_ids_read_as_python_reads_them(tmp_path):
    """Ids from a CSV file (Arrow-backed strings: blanks and control characters found on Arrow's
    side) come out as the same ids in Python objects do: white space of any script is blank, and
    C1 control characters (U+0080 to U+009F) are found as C0 ones are."""
    ids = ["m1", "\u3000", "\u3000x", "\x85", "a\x9f", "\xe9", "\x1c", " m2", "b\x07", "m1"]
    for given in (pd.Series(ids, dtype="str"), pd.Series([*ids, None], dtype="str")):
        arrow, python = an._text(given), an._text(given.astype(object))
        assert arrow[0].tolist() == python[0].tolist() and arrow[2].tolist() == python[2].tolist()
        assert arrow[1].tolist() == python[1].tolist()
    text, problems, missing = an._text(pd.Series(ids, dtype="str"))
    assert missing.tolist() == [False, True, False, True, False, False, True, False, False, False]
    assert [p is not None for p in problems] == [False] * 4 + [True] + [False] * 3 + [True, False]
    assert "U+009F" in problems[4] and text[2] == "\u3000x"
    path = tmp_path / "votes.csv"
    path.write_text("item,annotator,label,value\n" + "".join(f"{i},a,spam,1\n" for i in ids), encoding="utf-8")
    got = an.read_votes(path, lenient=True)
    assert got.rejected[["line", "field"]].values.tolist() == [
        [3, "item"],
        [5, "item"],
        [8, "item"],
        [6, "item"],
        [10, "item"],
    ]
    assert got.votes["item"].tolist() == ["m1", "\u3000x", "\xe9", " m2", "m1"]
    with pytest.raises(SchemaError, match=r"line 3, field 'item': missing item id"):
        an.read_votes(path)


def test_written_rankings_in_arrow_strings_parse_as_parse_ranking_reads_them():
    """Rankings of a CSV file: texts of printable ASCII only are split directly; any other
    character (white space of any script, a C1 control character) sends them the long way."""
    texts = ["a>b>c", "x\xa0>\u3000y", "a>b>c", "p>q\x9f", "a>>b", "a>b>a", "a>b=c", "\xe9>e"]
    for dtype in ("str", object):
        parsed, problems = an._parse_rankings(pd.Series(texts, dtype=dtype))
        assert list(parsed) == [
            ("a", "b", "c"),
            ("x", "y"),
            ("a", "b", "c"),
            None,
            None,
            None,
            ("a", frozenset("bc")),
            ("\xe9", "e"),
        ]
        assert [p is None for p in problems] == [True, True, True, False, False, False, True, True]
        assert "U+009F" in problems[3] and "empty position" in problems[4] and "appears twice" in problems[5]
    plain = ["a>b>c", "c>b>a"]  # printable ASCII only: the direct split
    assert list(an._parse_rankings(pd.Series(plain, dtype="str"))[0]) == [("a", "b", "c"), ("c", "b", "a")]


def test_check_items_looks_each_run_of_equal_neighbours_up_once():
    """Unknown ids are found row by row whether they repeat next to each other (looked up once per
    run), stand alone, or sit in a column that cannot be compared so (pd.NA)."""
    ds = oq.load_sample()
    m1, m2 = ds.messages["message_id"].iloc[:2]
    items = [m1, m1, "nope", "nope", m1, "nope", m2, m2]
    votes = pd.DataFrame({"item": items, "annotator": list("abcdefgh"), "label": "spam", "value": 1.0})
    rankings = pd.DataFrame(
        {"group": [m1, m1, m1, m1, "g?"], "annotator": list("abcde"), "ranking": ["x>y", "x>y", "x>y", "x>y", "x>y"]}
    )
    rankings = an.read_rankings(rankings).rankings.assign(ranking=[(m2,), (m2,), (m2, "nope"), (m2, "nope"), (m2,)])
    found = an.Annotations(votes=an.read_votes(votes).votes, rankings=rankings)
    with pytest.raises(SchemaError, match="row 3 of its votes table: item is not a message of the dataset: 'nope'"):
        an.check_items(found, ds.messages["message_id"])
    kept = an.check_items(found, ds.messages["message_id"], lenient=True)
    assert kept.rejected[["line", "field"]].values.tolist() == [
        [3, "item"],
        [4, "item"],
        [6, "item"],
        [5, "group"],
        [3, "ranking"],
        [4, "ranking"],
    ]
    assert kept.votes["item"].tolist() == [m1, m1, m1, m2, m2] and len(kept.rankings) == 2
    with_na = an.Annotations(
        votes=found.votes.assign(item=pd.Series([m1, pd.NA, pd.NA, m1, "nope", m1, m2, m2], dtype=object))
    )
    assert an.check_items(with_na, ds.messages["message_id"], lenient=True).rejected["line"].tolist() == [2, 3, 5]
