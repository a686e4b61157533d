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
