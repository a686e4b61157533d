"""Readers for the real crowdsourcing sets in ../shared/data, as long tables with gold truth.

Each reader returns ``(annotations, gold, scale)``: a DataFrame with columns ``item, annotator,
value``, a Series of gold values indexed by item (possibly for a subset of items), and the scale:
``"nominal"``, ``"ordinal"`` or ``"interval"``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _snow(name: str) -> tuple[pd.DataFrame, pd.Series]:
    df = pd.read_csv(SHARED / "crowd_snow2008" / f"{name}.standardized.tsv", sep="\t")
    ann = df.rename(columns={"orig_id": "item", "!amt_worker_ids": "annotator", "response": "value"})
    return ann[["item", "annotator", "value"]], df.groupby("orig_id")["gold"].first()


def _zheng(folder: str) -> tuple[pd.DataFrame, pd.Series]:
    base = SHARED / "crowd_truth_infer_zheng2017" / folder
    answer = base / "answer.csv" if (base / "answer.csv").exists() else base / "answer.csv.gz"
    ann = pd.read_csv(answer).rename(columns={"question": "item", "worker": "annotator", "answer": "value"})
    gold = pd.read_csv(base / "truth.csv").set_index("question")["truth"]
    return ann, gold


def _activecrowd(name: str) -> tuple[pd.DataFrame, pd.Series]:
    path = SHARED / "crowd_activecrowd_toolkit" / name
    df = pd.read_csv(path, header=None)
    df = df.iloc[:, :4]
    df.columns = ["annotator", "item", "value", "gold"]
    return df[["item", "annotator", "value"]], df.groupby("item")["gold"].first()


ADULT_SCALE = {"G": 0, "P": 1, "R": 2, "X": 3}


def _adult() -> tuple[pd.DataFrame, pd.Series]:
    base = SHARED / "crowd_adult_content_gal" / "AdultContent2"
    df = pd.read_csv(base / "labels.txt.gz", sep="\t", header=None, names=["annotator", "item", "value"])
    gold = pd.read_csv(base / "gold.txt", sep="\t", header=None, names=["item", "value"])

    def key(url: pd.Series) -> pd.Series:  # the two files spell some URLs differently
        return url.str.lower().str.replace(r"^https?://(www\.)?", "", regex=True).str.rstrip("/")

    df["item"] = key(df["item"])
    df["value"] = df["value"].map(ADULT_SCALE)
    gold["item"] = key(gold["item"])
    return df.dropna(subset=["value"]), gold.drop_duplicates("item").set_index("item")["value"].map(ADULT_SCALE)


def _trec() -> tuple[pd.DataFrame, pd.Series]:
    df = pd.read_csv(SHARED / "crowd_trec_rf10_relevance" / "trec-rf10-data.txt.gz", sep="\t")
    df["item"] = df["topicID"].astype(str) + ":" + df["docID"].astype(str)  # a doc recurs across topics
    gold = df[df["gold"] >= 0].groupby("item")["gold"].first()
    ann = df[df["label"] >= 0].rename(columns={"workerID": "annotator", "label": "value"})  # -2: broken link
    return ann[["item", "annotator", "value"]], gold


SETS = {
    "Duck (Zheng)": (lambda: _zheng("d_Duck_Identification"), "nominal"),
    "Product (Zheng)": (lambda: _zheng("d_jn-product"), "nominal"),
    "Dog (Zheng)": (lambda: _zheng("s4_Dog_data"), "nominal"),
    "Face (Zheng)": (lambda: _zheng("s4_Face_Sentiment_Identification"), "nominal"),
    "Emotion (Zheng)": (lambda: _zheng("f201_Emotion_FULL"), "interval"),
    "RTE (Snow)": (lambda: _snow("rte"), "nominal"),
    "TEMP (Snow)": (lambda: _snow("temp"), "nominal"),
    "WSD (Snow)": (lambda: _snow("wsd"), "nominal"),
    "CF (ActiveCrowd)": (lambda: _activecrowd("CF.csv"), "nominal"),
    "CF_amt (ActiveCrowd)": (lambda: _activecrowd("CF_amt.csv"), "nominal"),
    "SP (ActiveCrowd)": (lambda: _activecrowd("SP.csv.gz"), "nominal"),
    "SP_amt (ActiveCrowd)": (lambda: _activecrowd("SP_amt.csv"), "nominal"),
    "AdultContent2 (GAL)": (_adult, "ordinal"),
    "TREC RF10 relevance": (_trec, "ordinal"),
}


def load(name: str) -> tuple[pd.DataFrame, pd.Series, str]:
    reader, scale = SETS[name]
    annotations, gold = reader()
    return annotations, gold, scale


def single_rated(df: pd.DataFrame) -> pd.DataFrame:
    """The same set with every fifth item (in sorted order) cut to its first rating."""
    cut = set(sorted(df["item"].unique())[::5])
    return df[~df["item"].isin(cut) | ~df.duplicated("item")]
