"""write -> load gives back the same Dataset (property-based)."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oasst_quality as oq
from oasst_quality.io import load, write

LABEL_NAMES = ["spam", "quality", "toxicity", "helpfulness"]
ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=8)


@st.composite
def datasets(draw):
    n_trees = draw(st.integers(1, 4))
    records = []
    counter = 0
    for t in range(n_trees):
        tree = f"tree{t}"
        n = draw(st.integers(1, 6))
        tree_ids = []
        for i in range(n):
            counter += 1
            mid = f"{draw(ids)}-{counter}"
            parent = draw(st.sampled_from(tree_ids)) if tree_ids and i else None
            role = "prompter" if parent is None else draw(st.sampled_from(["prompter", "assistant"]))
            labels = draw(
                st.dictionaries(st.sampled_from(LABEL_NAMES), st.tuples(st.floats(0, 1), st.integers(0, 9)), max_size=3)
            )
            records.append(
                {
                    "message_id": mid,
                    "parent_id": parent,
                    "message_tree_id": tree,
                    "role": role,
                    "lang": draw(st.sampled_from(["en", "es", None, "pt-BR"])),
                    "text": draw(st.text(max_size=20)),
                    "user_id": draw(st.none() | ids),
                    "created_date": draw(st.none() | st.just("2023-02-07T17:29:24.727400+00:00")),
                    "review_count": draw(st.none() | st.integers(0, 5)),
                    "review_result": draw(st.none() | st.booleans()),
                    "deleted": draw(st.booleans()),
                    "synthetic": False,
                    "rank": draw(st.none() | st.integers(0, 3)),
                    "model_name": None,
                    "tree_state": "ready_for_export",
                    "labels": {k: {"value": v, "count": c} for k, (v, c) in labels.items()} or None,
                    "emojis": draw(
                        st.none() | st.dictionaries(st.sampled_from(["+1", "-1"]), st.integers(0, 9), min_size=1)
                    ),
                    "extra_field": draw(st.none() | st.integers(0, 3)),
                }
            )
            tree_ids.append(mid)
    return records


def _same(a: oq.Dataset, b: oq.Dataset) -> None:
    key = ["message_id"]
    pd.testing.assert_frame_equal(
        a.messages.sort_values(key, ignore_index=True), b.messages.sort_values(key, ignore_index=True)
    )
    for table, cols in (
        ("labels", ["message_id", "label"]),
        ("emojis", ["message_id", "emoji"]),
        ("detoxify", ["message_id", "head"]),
    ):
        pd.testing.assert_frame_equal(
            getattr(a, table).sort_values(cols, ignore_index=True),
            getattr(b, table).sort_values(cols, ignore_index=True),
            check_dtype=False,
        )
    assert a.problem_counts() == b.problem_counts()


@pytest.mark.parametrize(
    "form,suffix",
    [
        ("trees", ".jsonl"),
        ("trees", ".jsonl.gz"),
        ("messages", ".jsonl"),
        ("messages", ".jsonl.gz"),
        ("messages", ".parquet"),
    ],
)
@settings(max_examples=25)
@given(records=datasets())
def test_write_load_roundtrip(tmp_path_factory, records, form, suffix):
    folder = tmp_path_factory.mktemp("rt")
    src = folder / "src.jsonl"
    src.write_text("".join(__import__("json").dumps(r) + "\n" for r in records))
    ds = load(src)
    back = load(write(ds, folder / f"out{suffix}", form=form))
    _same(ds, back)


@pytest.mark.parametrize("form", ["trees", "messages"])
def test_real_sample_roundtrip(tmp_path, form):
    ds = oq.load_sample()
    _same(ds, load(write(ds, tmp_path / "x.jsonl.gz", form=form)))


def test_real_nested_roundtrip(tmp_path, shared):
    ds = load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    back = load(write(ds, tmp_path / "x.jsonl", form="trees"))
    pd.testing.assert_frame_equal(
        ds.messages.sort_values("message_id", ignore_index=True),
        back.messages.sort_values("message_id", ignore_index=True),
    )


# --------------------------------------------------------------------------- any Dataset the library builds

TEXT_IDS = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=6)


def _column(draw, values: list, kind: str):
    """A column as pandas would hold it: one of the dtypes a frame gets beside missing values."""
    if kind == "int":
        how = draw(st.sampled_from(["float", "Int64", "object"]))
        if how == "float":
            return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
        return pd.Series(values, dtype="Int64" if how == "Int64" else object)
    if kind == "bool":
        how = draw(st.sampled_from(["float", "boolean", "object"]))
        if how == "float":
            return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
        return pd.Series(values, dtype="boolean" if how == "boolean" else object)
    return pd.Series(values, dtype=object)


@st.composite
def built(draw):
    """A Dataset made with Dataset.from_tables from frames as pandas makes them (a rank of floats
    beside NaN, true/false as 1.0/0.0, counts as floats), sometimes with a value the files cannot hold."""
    n = draw(st.integers(1, 8))
    ids = draw(st.lists(TEXT_IDS, min_size=n, max_size=n, unique=True))
    trees, parents, roles = [], [], []
    for i, mid in enumerate(ids):
        parent = draw(st.none() | st.sampled_from(ids[:i])) if i else None
        parents.append(parent)
        trees.append(trees[ids.index(parent)] if parent is not None else mid)
        roles.append("prompter" if parent is None else draw(st.sampled_from(["prompter", "assistant"])))
    bad = draw(st.sampled_from([None] * 6 + ["rank", "role", "label", "id"]))
    ranks = [draw(st.none() | st.integers(0, 3)) for _ in ids]
    messages = pd.DataFrame(
        {
            "message_id": ids,
            "parent_id": pd.Series(parents, dtype=object),
            "message_tree_id": trees,
            "role": roles if bad != "role" else ["robot", *roles[1:]],
            "text": [draw(st.text(max_size=12)) for _ in ids],
            "lang": pd.Series([draw(st.sampled_from(["en", "de", None])) for _ in ids], dtype=object),
            "created_date": pd.to_datetime(
                [draw(st.sampled_from([None, "2023-02-07T17:29:24.727400+00:00"])) for _ in ids], utc=True
            ),
            "review_count": _column(draw, [draw(st.none() | st.integers(0, 5)) for _ in ids], "int"),
            "review_result": _column(draw, [draw(st.none() | st.booleans()) for _ in ids], "bool"),
            "rank": _column(draw, ranks, "int") if bad != "rank" else pd.Series([1.5] * n),
            "extra": pd.Series([draw(st.none() | st.integers(0, 9)) for _ in ids], dtype=object),
        }
    )
    messages["user_id"] = pd.Series(["u\x00" if bad == "id" and i == 0 else None for i in range(n)], dtype=object)
    rows = [
        (mid, name, draw(st.floats(0, 1)), draw(st.none() | st.integers(0, 9)))
        for mid in ids
        for name in draw(st.lists(st.sampled_from(LABEL_NAMES), unique=True, max_size=3))
    ]
    labels = pd.DataFrame(rows, columns=["message_id", "label", "value", "count"])
    labels["count"] = _column(draw, list(labels["count"]), "int") if len(labels) else labels["count"]
    if bad == "label":
        if len(labels):
            labels.loc[0, "value"] = 1.25
        else:
            bad = None
    emojis = pd.DataFrame(
        [(mid, "+1", float(draw(st.integers(0, 5)))) for mid in ids if draw(st.booleans())],
        columns=["message_id", "emoji", "count"],
    )
    detox = pd.DataFrame(
        [(mid, "toxicity", draw(st.floats(0, 1))) for mid in ids if draw(st.booleans())],
        columns=["message_id", "head", "score"],
    )
    return oq.Dataset.from_tables(messages, labels=labels, emojis=emojis, detoxify=detox), bad


def _cell(column: str, value):
    """A cell as the export's JSON holds it."""
    import math

    import numpy as np

    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if column in ("rank", "review_count", "count") and isinstance(value, float):
        return int(value)
    if column == "review_result" and isinstance(value, float):
        return value == 1.0
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _canonical(ds: oq.Dataset, columns: list[str]) -> dict:
    def rows(frame, cols, key):
        out = [tuple(_cell(c, v) for c, v in zip(cols, r)) for r in frame[cols].itertuples(index=False, name=None)]
        return sorted(out, key=lambda r: tuple(str(x) for x in r[:key]))

    return {
        "messages": rows(ds.messages, columns, 1),
        "labels": rows(ds.labels, ["message_id", "label", "value", "count"], 2),
        "emojis": rows(ds.emojis, ["message_id", "emoji", "count"], 2),
        "detoxify": rows(ds.detoxify, ["message_id", "head", "score"], 2),
        "problems": ds.problem_counts(),
    }


@pytest.mark.parametrize("form,suffix", [("trees", ".jsonl"), ("messages", ".jsonl.gz"), ("messages", ".parquet")])
@settings(max_examples=25)
@given(case=built())
def test_any_dataset_the_library_builds_round_trips_or_is_refused(tmp_path_factory, case, form, suffix):
    from oasst_quality.errors import UsageError

    ds, bad = case
    path = tmp_path_factory.mktemp("built") / f"out{suffix}"
    if bad is not None:
        with pytest.raises(UsageError, match=r"oq\.write writes only what oq\.load reads back"):  # nothing written
            write(ds, path, form=form)
        assert not path.exists()
        return
    back = load(write(ds, path, form=form))
    columns = [c for c in ds.messages.columns]
    assert _canonical(back, columns) == _canonical(ds, columns)
