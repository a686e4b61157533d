"""The loader's doors: a pandas DataFrame and a datasets.Dataset built any usual way give the numbers
of the file they came from, and anything else is told what load takes."""

import io
import json
import warnings

import pandas as pd
import pytest
from helpers import assert_close, jsonl, msg
from test_golden import GOLDEN, path_of, sections

import oasst_quality as oq
from oasst_quality import report
from oasst_quality.errors import FormatError, SchemaError, UsageError
from oasst_quality.io.records import IdsAsNumbersWarning

datasets = pytest.importorskip("datasets")
REAL = ["turku", "openpaws", "laion"]  # the bundled sample is the Turku file byte for byte


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    """Figures are drawn but not encoded as PNG (no number in them)."""
    import matplotlib.pyplot as plt

    from oasst_quality.report import plots

    monkeypatch.setattr(plots, "_uri", lambda fig: plt.close(fig) or "")


def _doors(path):
    frame = pd.read_json(path, lines=True)
    return {"DataFrame": frame, "datasets.Dataset": datasets.Dataset.from_pandas(frame)}


@pytest.mark.parametrize("name", REAL)
def test_a_frame_and_a_hub_dataset_of_read_json_give_the_metrics_of_the_file(name, shared):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())  # report.compute(oq.load(path)), stored
    for door, obj in _doors(path_of(name, shared)).items():
        metrics, _ = report.compute(oq.load(obj, lenient=True), quiet=True)
        assert_close(golden, sections(metrics, golden), door, stored=True)


def test_the_message_file_of_the_laion_sample_through_every_door(shared):
    path = shared / "oasst_laion_en100_sample" / "en_100_message.jsonl.gz"
    whole = oq.load(path)
    for door, obj in _doors(path).items():
        ds = oq.load(obj)
        cols = list(whole.messages.columns)
        pd.testing.assert_frame_equal(ds.messages[cols], whole.messages, obj=door)
        for table, key in (("labels", "label"), ("emojis", "emoji"), ("detoxify", "head")):
            a, b = (getattr(d, table).sort_values(["message_id", key], ignore_index=True) for d in (ds, whole))
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=door)
        assert ds.problem_counts() == whole.problem_counts()


# --------------------------------------------------------------------------- what pandas and Arrow make of a table


def _frame(records) -> pd.DataFrame:
    return pd.read_json(io.StringIO(jsonl(records)), lines=True)


def test_nullable_bools_and_ranks_as_floats_are_read_as_the_export_holds_them():
    records = [
        msg("p", review_result=True, deleted=False),
        msg("a", "p", "assistant", rank=0, review_result=None),
        msg("b", "p", "assistant", rank=1, review_result=False),
    ]
    frame = _frame(records)
    assert frame["review_result"].dtype == float and frame["rank"].dtype == float  # pandas' stand-ins
    for obj in (frame, datasets.Dataset.from_pandas(frame)):
        ds = oq.load(obj)
        assert ds.messages["review_result"].tolist() == [True, pd.NA, False]
        assert ds.messages["rank"].tolist() == [pd.NA, 0, 1]


def test_ids_held_as_numbers_are_strings_with_a_warning_and_a_fraction_is_a_located_error():
    frame = _frame([msg("007", tree="007"), msg("2", "007", "assistant", tree="007")])
    assert frame["message_id"].tolist() == [7, 2]  # read_json took the ids for numbers (and lost "00")
    with pytest.warns(IdsAsNumbersWarning, match=r"5 ids held as numbers .* row 1, field 'message_id': 7 -> '7'"):
        ds = oq.load(frame)
    assert ds.messages["message_id"].tolist() == ["7", "2"] and ds.messages["parent_id"].tolist() == [None, "7"]
    frame["message_id"] = [7.0, 2.5]
    with pytest.warns(IdsAsNumbersWarning), pytest.raises(SchemaError, match="not a whole number") as err:
        oq.load(frame)  # (the whole number before the fraction is read as a string, with the warning)
    assert (err.value.line, err.value.field) == (2, "message_id")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # string ids: no warning
        oq.load(_frame([msg("p")]).astype({"message_id": str}))


def test_arrow_struct_labels_keep_only_the_names_each_message_has():
    records = [
        msg("p", labels={"spam": {"value": 0.0, "count": 3}}, emojis={"+1": 2}),
        msg("a", "p", "assistant", labels={"quality": {"value": 0.75, "count": 2}}, detoxify={"toxicity": 0.5}),
    ]
    hf = datasets.Dataset.from_pandas(_frame(records))
    assert hf[0]["labels"] == {"spam": {"value": 0.0, "count": 3}, "quality": None}  # the struct's union
    ds = oq.load(hf)
    assert ds.labels[["message_id", "label"]].values.tolist() == [["p", "spam"], ["a", "quality"]]
    assert ds.emojis[["message_id", "emoji", "count"]].values.tolist() == [["p", "+1", 2]]
    assert ds.detoxify[["message_id", "head"]].values.tolist() == [["a", "toxicity"]]


@pytest.mark.parametrize(
    "obj,words",
    [
        (None, "got None"),
        ([{"message_id": "m"}], "got list (records in a list: pd.DataFrame(records) loads them"),
        (b'{"message_id": "m"}\n', "got bytes (write the bytes to a file"),
        (io.BytesIO(b"{}"), "got BytesIO (an open file: give its path"),
        (pd.Series([1]), "got Series"),
        (42, "got int"),
    ],
)
def test_anything_else_is_told_what_load_takes(obj, words):
    with pytest.raises(UsageError, match="load takes the path of an export file") as err:
        oq.load(obj)
    assert words in str(err.value)


def test_a_table_without_an_export_s_columns_or_rows_is_no_export(tmp_path):
    for obj in (pd.DataFrame({"a": [1]}), datasets.Dataset.from_dict({"a": [1]})):
        with pytest.raises(FormatError, match="not an OASST export: no message_id and role column"):
            oq.load(obj)
    empty = pd.DataFrame({"message_id": pd.Series(dtype=str), "role": pd.Series(dtype=str)})
    with pytest.raises(FormatError, match="no rows"):
        oq.load(empty)
    empty.to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(FormatError, match="no rows"):
        oq.load(tmp_path / "empty.parquet")
    with pytest.raises(FormatError, match="no rows"):
        oq.load(datasets.Dataset.from_pandas(empty))


def test_a_folder_with_a_report_is_not_read_as_shards(tmp_path):
    ds = oq.load_sample()
    (tmp_path / "hub" / "data").mkdir(parents=True)
    ds.to_parquet(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    report.build(ds, tmp_path / "hub" / "report", n_resamples=10, quiet=True)
    with pytest.raises(FormatError, match=r"holds a report written by oasst-quality .* move the report out"):
        oq.load(tmp_path / "hub")
    with pytest.raises(FormatError, match="holds a report written by oasst-quality"):
        oq.load(tmp_path / "hub" / "report")


def test_repeated_label_names_and_control_characters_in_ids_are_located(tmp_path):
    twice = msg("a", labels={"name": ["spam", "quality", "spam"], "value": [0.0, 0.5, 1.0], "count": [1, 2, 1]})
    path = tmp_path / "x.jsonl"
    path.write_text(jsonl([msg("ok"), twice]))
    with pytest.raises(SchemaError, match="label 'spam' given twice") as err:
        oq.load(path)
    assert (err.value.line, err.value.field, err.value.kind) == (2, "labels.spam", "duplicate_label")
    ds = oq.load(path, lenient=True)
    assert ds.problem_counts() == {"duplicate_label": 1} and len(ds.rejected) == 1
    assert ds.records_loaded + len(ds.rejected) == ds.records_read
    for field, record in (
        ("message_id", msg("a\x00b")),
        ("parent_id", msg("a", "p\x1b[2J")),
        ("user_id", msg("a", user_id="u\x00")),
        ("message_tree_id", msg("a", tree="t\x07")),
    ):
        path.write_text(jsonl([msg("ok"), record]))
        with pytest.raises(SchemaError, match="control character U\\+00") as err:
            oq.load(path)
        assert (err.value.line, err.value.field) == (2, field)


def test_detoxify_scores_outside_0_1_are_located(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(jsonl([msg("a", detoxify={"toxicity": 0.2, "insult": 7.5})]))
    with pytest.raises(SchemaError, match=r"Detoxify score 7\.5 outside") as err:
        oq.load(path)
    assert err.value.field == "detoxify.insult"
