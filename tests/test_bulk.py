"""The batch check (io/bulk.py) loads what the per-record check loads: the same tables, the same
located errors and the same rejected records, on exports with bad rows across batch boundaries."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import oasst_quality as oq
from oasst_quality.errors import OasstQualityError, SchemaError
from oasst_quality.io import bulk, records, tables, writers

TABLES = ("messages", "labels", "emojis", "detoxify", "problems")


def _spoil(rows: list[dict]) -> list:
    """The sample's messages with bad rows planted around the batch boundary (bulk.SIZE = 1024)."""
    rows = [dict(r) for r in rows]
    rows[5]["labels"] = {**rows[5]["labels"], "value": [1.5, *rows[5]["labels"]["value"][1:]]}
    names = rows[1100]["labels"]["name"]  # in the next batch: each bad label row in a batch of its own
    rows[1100]["labels"] = {**rows[1100]["labels"], "name": [names[0], names[0], *names[2:]]}
    rows[1023] = {"message_tree_id": "t-x", "tree_state": "growing", "prompt": {**rows[1023], "parent_id": None}}
    rows[1024]["message_id"] = rows[3]["message_id"]  # a duplicate
    rows[1500]["created_date"] = "2023-13-45"
    rows[1600]["message_id"] = "m\x002"
    rows[1800]["detoxify"] = {"toxicity": 7.5}
    rows[1900]["role"] = "robot"
    rows[2000]["emojis"] = {"name": ["+1"], "count": [-1]}
    return rows


def _write_jsonl(path, rows) -> None:
    lines = [json.dumps(r) for r in rows]
    lines[1700] = lines[1700][:-3]  # broken JSON
    path.write_text("\n".join(lines) + "\n")


def _row_by_row(monkeypatch) -> None:
    """Every row of every batch goes to the per-record check, and parquet is read row by row: the
    loader as it was before batches."""
    real = bulk.from_records

    def all_bad(recs):
        batch = real(recs)
        batch.bad = list(range(len(batch)))
        return batch

    monkeypatch.setattr(bulk, "from_records", all_bad)
    monkeypatch.setattr(records, "from_arrow", lambda *a, **k: None)


def _count_per_record(monkeypatch) -> list:
    calls = []
    real = tables.record_messages

    def counted(obj):
        calls.append(1)
        return real(obj)

    monkeypatch.setattr(tables, "record_messages", counted)
    return calls


def _load_both(path, monkeypatch, lenient: bool):
    """(batched, row by row, per-record checks made by the batched load): datasets or errors."""

    def attempt():
        try:
            return oq.load(path, lenient=lenient)
        except SchemaError as exc:
            return str(exc)

    with monkeypatch.context() as m:
        calls = _count_per_record(m)
        batched = attempt()
    with monkeypatch.context() as m:
        _row_by_row(m)
        row_by_row = attempt()
    return batched, row_by_row, len(calls)


def _assert_same(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert (a.records_read, a.records_loaded, a.form) == (b.records_read, b.records_loaded, b.form)


@pytest.fixture(scope="module")
def sample_rows() -> list[dict]:
    return writers.message_records(oq.load_sample(), "hf")


def test_jsonl_with_bad_rows_loads_as_row_by_row(tmp_path, monkeypatch, sample_rows):
    path = tmp_path / "spoiled.jsonl"
    _write_jsonl(path, _spoil(sample_rows))
    batched, row_by_row, checked = _load_both(path, monkeypatch, lenient=True)
    _assert_same(batched, row_by_row)
    assert set(batched.rejected["line"]) == {6, 1025, 1101, 1501, 1601, 1701, 1801, 1901, 2001}
    assert checked < 20  # only the bad rows (and the tree record) went row by row
    assert batched.form == "messages+trees"


def test_jsonl_strict_raises_the_same_located_error(tmp_path, monkeypatch, sample_rows):
    rows = _spoil(sample_rows)
    for i in (5, 1100):  # the first bad row is then the date on line 1501
        rows[i] = sample_rows[i]
    path = tmp_path / "spoiled.jsonl"
    _write_jsonl(path, rows)
    batched, row_by_row, _ = _load_both(path, monkeypatch, lenient=False)
    assert isinstance(batched, str) and batched == row_by_row
    assert "line 1501" in batched and "created_date" in batched


def _spoiled_parquet(path, rows) -> None:
    rows = [r for r in _spoil(rows) if "prompt" not in r]  # a parquet file holds flat messages
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_parquet_checked_on_arrow_loads_as_row_by_row(tmp_path, monkeypatch, sample_rows):
    path = tmp_path / "spoiled.parquet"
    _spoiled_parquet(path, sample_rows)
    batched, row_by_row, checked = _load_both(path, monkeypatch, lenient=True)
    _assert_same(batched, row_by_row)
    assert len(batched.rejected) == 8
    assert checked < 20
    strict, strict_rows, _ = _load_both(path, monkeypatch, lenient=False)
    assert isinstance(strict, str) and strict == strict_rows and "line 6" in strict


def test_clean_files_take_the_batch_path(tmp_path, monkeypatch, sample_rows):
    jsonl, parquet = tmp_path / "clean.jsonl", tmp_path / "clean.parquet"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in sample_rows))
    pq.write_table(pa.Table.from_pylist(sample_rows), parquet)
    for path in (jsonl, parquet):
        batched, row_by_row, checked = _load_both(path, monkeypatch, lenient=False)
        _assert_same(batched, row_by_row)
        assert checked == 0


def test_a_nan_label_value_in_parquet_is_a_located_error_not_a_silent_nan(tmp_path, sample_rows):
    rows = [r for r in sample_rows if "prompt" not in r]
    i = next(i for i, r in enumerate(rows) if r.get("labels") and len(r["labels"]["value"]) > 1)
    rows[i] = {
        **rows[i],
        "labels": {**rows[i]["labels"], "value": [0.0, float("nan"), *rows[i]["labels"]["value"][2:]]},
    }
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)  # parquet, unlike JSON, can hold a NaN
    name = rows[i]["labels"]["name"][1]
    with pytest.raises(OasstQualityError, match=rf"line {i + 1}, field 'labels\.{name}\.value'"):
        oq.load(path)
    lenient = oq.load(path, lenient=True)
    assert len(lenient.rejected) == 1 and not lenient.labels["value"].isna().any()


@pytest.mark.parametrize("distinct", [3, 13, 32, 33, 70])
def test_rows_naming_a_label_twice_by_bits_as_by_duplicated(distinct):
    """bulk._twice (a row's names as bits while there are at most 32) finds the rows pandas'
    ``duplicated`` finds on (row, name) pairs."""
    rng = np.random.default_rng(distinct)
    for _ in range(50):
        lengths = rng.integers(0, 6, rng.integers(1, 40))
        lengths[rng.random(len(lengths)) < 0.2] = 0
        row = np.repeat(np.arange(len(lengths)), lengths)
        if not len(row):
            continue
        codes = rng.integers(0, distinct, len(row)).astype(np.int32)
        want = row[pd.Series(row * distinct + codes).duplicated().to_numpy()]
        assert set(bulk._twice(row, codes, lengths).tolist()) == set(want.tolist())


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_arrow_ids_vouched_printable_only_when_str_isprintable_says_so(typ):
    """bulk._ascii_printable (the bytes of an Arrow string column, sliced or not) vouches for a
    column only where every value is ``str.isprintable``, and does for plain ASCII ids."""
    rng = np.random.default_rng(0)
    alphabet = ["a", "Z", "0", "-", " ", "~", "\x00", "\x1f", "\x7f", "\x85", "é", "\u2028"]
    for _ in range(200):
        values = ["".join(rng.choice(alphabet, rng.integers(0, 4))) for _ in range(rng.integers(1, 6))]
        values = [None if rng.random() < 0.2 else v for v in values]
        column = pa.chunked_array([pa.array(["pad", *values], typ).slice(1)])
        printable = all(v.isprintable() for v in values if v is not None)
        ascii_only = all(v.isascii() for v in values if v is not None)
        assert bulk._ascii_printable(column) == (printable and ascii_only)


def test_a_uint64_rank_beyond_int64_in_parquet_is_a_located_error(tmp_path):
    fields = [("message_id", pa.string()), ("parent_id", pa.string()), ("message_tree_id", pa.string())]
    schema = pa.schema([*fields, ("role", pa.string()), ("text", pa.string()), ("rank", pa.uint64())])
    rows = [
        {"message_id": "a", "parent_id": None, "message_tree_id": "a", "role": "prompter", "text": "hi", "rank": None},
        {"message_id": "b", "parent_id": "a", "message_tree_id": "a", "role": "assistant", "text": "yo", "rank": 2**63},
    ]
    path = tmp_path / "u64.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    with pytest.raises(OasstQualityError, match=r"line 2, field 'rank': 9223372036854775808 does not fit in 64 bits"):
        oq.load(path)
    assert len(oq.load(path, lenient=True).rejected) == 1
