"""The ecosystem's doors: Hugging Face datasets, the hub's parquet shards, to_parquet and to_hf."""

import gzip
import json

import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality import report
from oasst_quality.errors import FormatError

datasets = pytest.importorskip("datasets")


def _records():
    return [json.loads(line) for line in gzip.open(oq.sample_path())]


def test_a_datasets_dataset_gives_the_same_metrics_as_the_file():
    hf = datasets.Dataset.from_pandas(pd.DataFrame(_records()))  # built here: no hub access
    from_hf, from_file = oq.load(hf), oq.load_sample()
    pd.testing.assert_frame_equal(from_hf.messages, from_file.messages)
    a, _ = report.compute(from_hf, n_resamples=20, quiet=True)
    b, _ = report.compute(from_file, n_resamples=20, quiet=True)
    for metrics in (a, b):
        metrics["meta"].pop("source")
        metrics["structure"].pop("source")
    assert a == b


def test_a_dataset_dict_reads_its_splits_in_order():
    records = _records()
    half = len(records) // 2
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(pd.DataFrame(records[:half])),
            "validation": datasets.Dataset.from_pandas(pd.DataFrame(records[half:])),
        }
    )
    ds = oq.load(splits)
    assert ds.messages["message_id"].tolist() == [r["message_id"] for r in records]
    assert ds.source.startswith("DatasetDict(train: 1011 rows")


def test_a_folder_of_hub_parquet_shards(tmp_path):
    ds = oq.load_sample()
    whole = ds.to_parquet(tmp_path / "whole.parquet")
    table = pd.read_parquet(whole)
    (tmp_path / "hub" / "data").mkdir(parents=True)
    for i, part in enumerate((table.iloc[:700], table.iloc[700:])):
        part.to_parquet(tmp_path / "hub" / "data" / f"validation-0000{i}-of-00002.parquet", index=False)
    from_folder = oq.load(tmp_path / "hub")
    pd.testing.assert_frame_equal(from_folder.messages, oq.load(whole).messages)
    pd.testing.assert_frame_equal(from_folder.labels, ds.labels)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"is a folder without \.parquet shards"):
        oq.load(tmp_path / "empty")


def test_to_hf_and_back():
    ds = oq.load_sample()
    hf = ds.to_hf()
    assert len(hf) == len(ds) and "labels" in hf.features
    back = oq.load(hf)
    pd.testing.assert_frame_equal(back.messages, ds.messages)
    pd.testing.assert_frame_equal(back.labels, ds.labels)
