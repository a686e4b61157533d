import gzip
import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from helpers import jsonl, msg

import oasst_quality as oq
from oasst_quality.errors import FormatError, OasstQualityError, SchemaError

# --------------------------------------------------------------------------- real samples


def test_bundled_sample_matches_published_counts():
    ds = oq.load_sample()
    m = ds.messages
    assert len(m) == 2022
    assert len(ds.forest) == 191
    assert m["role"].value_counts().to_dict() == {"assistant": 1243, "prompter": 779}
    assert ds.problem_counts()["orphan"] == 3
    assert len(ds.forest.sibling_groups()) == 454
    assert ds.records_read == ds.records_loaded == 2022


def test_turku_file_in_shared_is_the_bundled_sample(shared):
    path = shared / "oasst1_en_validation_turku" / "en-validation.jsonl.gz"
    assert path.read_bytes() == oq.sample_path().read_bytes()


def test_openpaws_nested_trees_lenient(shared):
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    assert ds.form == "trees"
    assert len(ds.messages) == ds.messages["message_id"].nunique() == 1500
    assert len(ds.forest) == 520
    assert ds.messages["lang"].nunique() == 32
    dup = ds.problems[ds.problems["kind"] == "duplicate_tree"]
    assert len(dup) == 31 and dup["raw"].notna().all()
    assert ds.records_read == 551 and ds.records_loaded == 520
    assert ds.records_loaded + len(ds.rejected) == ds.records_read
    # Open Paws' extra CRITERIA scores are kept, not dropped.
    first = json.loads(gzip.open(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz").readline())
    assert ds.messages.loc[0, "CRITERIA"] == first["prompt"]["CRITERIA"]
    assert ds.messages["role"].value_counts().to_dict() == {"prompter": 807, "assistant": 693}


def test_laion_tree_and_message_files_agree(shared):
    folder = shared / "oasst_laion_en100_sample"
    a = oq.load(folder / "en_100_tree.jsonl.gz")
    b = oq.load(folder / "en_100_message.jsonl.gz")
    assert len(a.messages) == len(b.messages) == 1167
    # The message file has no tree wrapper, so it carries no tree_state.
    cols = [c for c in a.messages.columns if c != "tree_state"]
    x = a.messages.sort_values("message_id", ignore_index=True)[cols]
    y = b.messages.sort_values("message_id", ignore_index=True)[cols]
    pd.testing.assert_frame_equal(x, y)
    ea = a.emojis.sort_values(["message_id", "emoji"], ignore_index=True)
    eb = b.emojis.sort_values(["message_id", "emoji"], ignore_index=True)
    pd.testing.assert_frame_equal(ea, eb)


def test_hf_and_raw_label_forms_give_the_same_table(tmp_path):
    raw = msg("a", labels={"spam": {"value": 0.5, "count": 2}, "quality": {"value": 0.75, "count": 3}})
    hf = msg("a", labels={"name": ["spam", "quality"], "value": [0.5, 0.75], "count": [2, 3]})
    (tmp_path / "raw.jsonl").write_text(jsonl([raw]))
    (tmp_path / "hf.jsonl").write_text(jsonl([hf]))
    pd.testing.assert_frame_equal(oq.load(tmp_path / "raw.jsonl").labels, oq.load(tmp_path / "hf.jsonl").labels)


# --------------------------------------------------------------------------- bad input


def _write(tmp_path, content, name="x.jsonl"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_truncated_gzip(tmp_path):
    data = gzip.compress(jsonl([msg("a")] * 50).encode())
    path = _write(tmp_path, data[: len(data) // 2], "x.jsonl.gz")
    with pytest.raises(FormatError, match="truncated") as err:
        oq.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cut", [0.5, 0.02])  # a stream that breaks off, and one whose first bytes do
def test_a_gzip_stream_that_breaks_off_leaves_no_file_open(tmp_path, cut):
    """Every file the loader opened is closed by the time the error is raised (a file left to the
    garbage collector warns as it is freed)."""
    import gc
    import warnings

    data = gzip.compress(jsonl([msg(f"m{i}", text="x" * (i % 50)) for i in range(3000)]).encode())
    path = _write(tmp_path, data[: int(len(data) * cut)], "x.jsonl.gz")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        for lenient in (False, True):
            with pytest.raises(FormatError, match="truncated"):
                oq.load(path, lenient=lenient)
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_empty_file(tmp_path):
    with pytest.raises(FormatError, match="empty file"):
        oq.load(_write(tmp_path, "\n  \n"))


def test_json_array_instead_of_lines(tmp_path):
    with pytest.raises(FormatError, match="JSON array") as err:
        oq.load(_write(tmp_path, json.dumps([msg("a")])))
    assert err.value.line == 1


def test_not_utf8(tmp_path):
    good = jsonl([msg("a")]).encode()
    bad = b'{"message_id": "b\xff\xfe", "role": "prompter"}\n'
    path = _write(tmp_path, good + bad)
    with pytest.raises(SchemaError, match="not UTF-8") as err:
        oq.load(path)
    assert err.value.line == 2 and err.value.path == str(path)


def test_broken_line(tmp_path):
    path = _write(tmp_path, jsonl([msg("a")]) + '{"message_id": "b", \n')
    with pytest.raises(SchemaError, match="broken JSON") as err:
        oq.load(path)
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        (msg("a", review_count="three"), "review_count", "integer"),
        (msg("a", deleted="no"), "deleted", "true/false"),
        (msg("a", rank=1.5), "rank", "integer"),
        (msg("a", text=["x"]), "text", "string"),
        (msg("a", labels={"quality": {"value": 1.5, "count": 1}}), "labels.quality.value", "outside"),
        (msg("a", labels={"spam": {"value": -0.1, "count": 1}}), "labels.spam.value", "outside"),
        (msg("a", labels={"spam": {"value": "high", "count": 1}}), "labels.spam.value", "number"),
        (msg("a", labels={"spam": {"value": 0.5, "count": -1}}), "labels.spam.count", "non-negative"),
        (msg("a", role="moderator"), "role", "unknown role"),
        (msg(None), "message_id", "missing"),
        (msg(""), "message_id", "missing"),
        ({k: v for k, v in msg("a").items() if k != "message_tree_id"}, "message_tree_id", "missing"),
        (msg("a", created_date="yesterday"), "created_date", "ISO 8601"),
    ],
)
def test_schema_errors_name_file_line_field(tmp_path, record, field, words):
    path = _write(tmp_path, jsonl([msg("ok"), record]))
    with pytest.raises(SchemaError, match=words) as err:
        oq.load(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 2, field)
    assert "line 2" in str(err.value) and field in str(err.value)


def test_lenient_keeps_every_rejected_record(tmp_path):
    lines = [
        json.dumps(msg("a")),
        '{"broken": ',
        json.dumps(msg("b", "a", role="wizard")),
        json.dumps([1, 2]),
        json.dumps(msg("c", "a", role="assistant", labels={"spam": {"value": 7, "count": 1}})),
        json.dumps(msg("d", "a", role="assistant")),
    ]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(SchemaError):
        oq.load(path)
    ds = oq.load(path, lenient=True)
    assert list(ds.messages["message_id"]) == ["a", "d"]
    assert ds.records_read == 6 and ds.records_loaded == 2
    rejected = ds.rejected
    assert len(rejected) == 4
    assert list(rejected["line"]) == [2, 3, 4, 5]
    assert rejected.loc[0, "raw"] == '{"broken": '
    assert set(rejected["kind"]) == {"parse_error", "schema_error"}


def test_unknown_fields_are_kept(tmp_path):
    ds = oq.load(_write(tmp_path, jsonl([msg("a", favourite_colour="blue", scores={"x": 1})])))
    assert ds.messages.loc[0, "favourite_colour"] == "blue"
    assert ds.messages.loc[0, "scores"] == {"x": 1}


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        oq.load(tmp_path / "nope.jsonl")


# --------------------------------------------------------------------------- structure


def _kinds(records, tmp_path):
    ds = oq.load(_write(tmp_path, jsonl(records)), lenient=True)
    return ds, ds.problems.groupby("kind")["message_id"].agg(sorted).to_dict()


def test_structural_problems_never_raise(tmp_path):
    records = [
        msg("r"),
        msg("a1", "r", role="assistant", rank=0),
        msg("a2", "r", role="assistant", rank=0),  # collision
        msg("p1", "a1", role="prompter", rank=1),  # rank on prompter
        msg("p2", "a1", role="assistant"),  # role alternation
        msg("o", "ghost", role="assistant"),  # orphan
        msg("r2"),  # second root in t1
        msg("x", "y", tree="t2"),
        msg("y", "x", tree="t2", role="assistant"),  # cycle
        msg("z", "y", tree="t2"),  # descends from the cycle
        msg("g1", "r", role="assistant", tree="t3"),  # tree id mismatch
        msg("h", tree="t4"),
        msg("h1", "h", role="assistant", rank=0, tree="t4"),
        msg("h2", "h", role="assistant", rank=2, tree="t4"),  # gap
        msg("a1", "r", role="assistant", rank=0),  # duplicate message
    ]
    ds, kinds = _kinds(records, tmp_path)
    assert kinds["rank_collision"] == ["a1", "a2"]
    assert kinds["rank_on_prompter"] == ["p1"]
    assert kinds["role_alternation"] == ["p2"]
    assert kinds["orphan"] == ["o"]
    assert kinds["multiple_roots"] == ["r", "r2"]
    assert kinds["cycle"] == ["x", "y", "z"]
    assert kinds["tree_id_mismatch"] == ["g1"]
    assert kinds["rank_gap"] == ["h1", "h2", "p1"]  # p1 alone with rank 1 is a gap too
    assert kinds["duplicate_message"] == ["a1"]
    # strict mode loads them too
    strict = oq.load(_write(tmp_path, jsonl(records), "s.jsonl"))
    assert len(strict.messages) == 14
    cyc = ds.problems[ds.problems["kind"] == "cycle"].set_index("message_id")["detail"]
    assert cyc["z"] == "message descends from a parent cycle" and cyc["x"] == "message is on a parent cycle"
    assert ds.messages.set_index("message_id")["depth"].isna().sum() == 3
    lines = ds.problems.set_index(["kind", "message_id"])["line"]
    assert lines[("orphan", "o")] == 6


@pytest.mark.parametrize("seed", range(20))
def test_cycle_members_match_networkx(seed):
    """The cycles found by pointer doubling are networkx's simple cycles of the parent graph
    (random parent pointers: self-loops, long tails, several cycles)."""
    import networkx as nx

    from oasst_quality.forest import _depths, _on_cycles

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    parent = np.where(rng.random(n) < 0.1, -1, rng.integers(0, n, n))
    rows = np.flatnonzero(_depths(parent) < 0)
    graph = nx.DiGraph()
    graph.add_edges_from((int(parent[i]), int(i)) for i in rows)
    members = {node for cyc in nx.simple_cycles(graph) for node in cyc}
    assert _on_cycles(parent, rows).tolist() == [int(i) in members for i in rows]


def test_duplicate_tree_loaded_once(tmp_path):
    tree = {
        "message_tree_id": "r",
        "tree_state": "ready_for_export",
        "prompt": {**msg("r", tree=None), "replies": [msg("a", "r", role="assistant", tree=None)]},
    }
    ds = oq.load(_write(tmp_path, jsonl([tree, tree])))
    assert len(ds.messages) == 2
    assert ds.problem_counts() == {"duplicate_tree": 1}
    assert set(ds.messages["tree_state"]) == {"ready_for_export"}
    assert set(ds.messages["message_tree_id"]) == {"r"}


def test_forest_graphs_threads_and_groups():
    ds = oq.load_sample()
    forest = ds.forest
    tree_id = next(iter(forest))
    g = forest[tree_id]
    assert g.number_of_nodes() == (ds.messages["message_tree_id"] == tree_id).sum()
    for u, v in g.edges:
        assert g.nodes[v]["parent_id"] == u
    threads = forest.threads()
    assert len(threads) == forest.stats().n_threads
    parent = ds.messages.set_index("message_id")["parent_id"]
    for thread in threads[:200]:
        assert all(parent[b] == a for a, b in itertools.pairwise(thread))
    groups = forest.sibling_groups()
    assert (groups["n_children"] >= 2).all()
    assert groups["n_children"].sum() == sum(len(c) for c in groups["children"])
    stats = forest.stats()
    assert sum(stats.depth_counts.values()) == stats.n_messages
    assert stats.n_ranked_sibling_groups == 418


def test_parquet_hf_layout(tmp_path):
    ds = oq.load_sample()
    path = oq.write(ds, tmp_path / "m.parquet", form="messages")
    back = oq.load(path)
    pd.testing.assert_frame_equal(back.messages, ds.messages)
    pd.testing.assert_frame_equal(back.labels, ds.labels)
    import pyarrow.parquet as pq

    assert pq.read_schema(path).field("labels").type.num_fields == 3  # name, value, count structs


def test_structural_problem_counts_are_stable_with_numpy_ints():
    ds = oq.load_sample()
    assert all(isinstance(v, int) for v in ds.problem_counts().values())
    assert np.issubdtype(ds.messages["depth"].dropna().to_numpy().dtype, np.integer)


def _chain_tree(n: int) -> str:
    """One tree record whose messages form a chain n deep, written by plain string assembly."""
    opens, closes = [], []
    for i in range(n):
        role = "prompter" if i % 2 == 0 else "assistant"
        opens.append(f'{{"message_id": "m{i}", "role": "{role}", "lang": "en", "text": "t{i}", "replies": [')
        closes.append("]}")
    return (
        '{"message_tree_id": "m0", "tree_state": "ready_for_export", "prompt": '
        + "".join(opens)
        + "".join(closes)
        + "}\n"
    )


def test_a_100000_message_chain_loads_and_round_trips(tmp_path):
    path = tmp_path / "chain.jsonl"
    path.write_text(_chain_tree(100_000))
    ds = oq.load(path)
    assert len(ds) == 100_000 and ds.messages["depth"].max() == 99_999
    assert ds.problems.empty
    out = oq.write(ds, tmp_path / "again.jsonl.gz", form="trees")
    again = oq.load(out)
    assert again.messages["message_id"].tolist() == ds.messages["message_id"].tolist()
    assert again.messages["parent_id"].tolist() == ds.messages["parent_id"].tolist()


def test_a_3000_message_chain_loads_from_a_dataframe_as_from_its_file(tmp_path):
    """A typed table's nested tree is walked without recursion, as the file's is."""
    path = tmp_path / "chain.jsonl"
    path.write_text(_chain_tree(3000))
    root = node = {"message_id": "m0", "role": "prompter", "lang": "en", "text": "t0", "replies": []}
    for i in range(1, 3000):
        role = "prompter" if i % 2 == 0 else "assistant"
        child = {"message_id": f"m{i}", "role": role, "lang": "en", "text": f"t{i}", "replies": []}
        node["replies"] = [child]
        node = child
    frame = pd.DataFrame([{"message_tree_id": "m0", "tree_state": "ready_for_export", "prompt": root}])
    from_frame, from_file = oq.load(frame), oq.load(path)
    assert len(from_frame) == 3000 and from_frame.messages["depth"].max() == 2999
    pd.testing.assert_frame_equal(from_frame.messages, from_file.messages)


@pytest.mark.parametrize("block", [1, 5, 16, 1 << 20])
def test_lines_longer_than_a_block_are_split_as_plain_splitting_splits_them(tmp_path, monkeypatch, block):
    from oasst_quality.io import records

    data = b"short\n" + b"x" * 50 + b"\n\n" + b"y" * 16 + b"\n" + b"z" * 37 + b"\nlast, with no newline" + b"w" * 40
    path = tmp_path / "lines.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    monkeypatch.setattr(records, "BLOCK", block)
    with gzip.open(path, "rb") as fh:
        assert list(records._lines(path, fh)) == data.splitlines(keepends=True)


def test_a_whole_number_id_beyond_2_53_is_called_too_large_not_a_fraction(tmp_path):
    frame = pd.DataFrame([msg("p"), msg("a", "p", "assistant")])
    frame["message_id"] = ["p", 1e20]  # a whole number, past those a float holds exactly
    with pytest.raises(SchemaError, match=r"whole number too large .* \(1e\+20, beyond 2\*\*53\)") as err:
        oq.load(frame)
    assert (err.value.line, err.value.field) == (2, "message_id")
    path = tmp_path / "float_id.jsonl"
    path.write_text(jsonl([msg(5.0)]))  # a JSON file's ids are never read as numbers
    with pytest.raises(SchemaError, match=r"a message id must be a string, got float 5\.0"):
        oq.load(path)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"rank": 2**63}, "rank"),
        ({"review_count": 2**63}, "review_count"),
        ({"labels": {"spam": {"value": 0.5, "count": 2**63}}}, "labels.spam.count"),
        ({"emojis": {"+1": 2**63}}, "emojis.+1"),
    ],
)
def test_an_integer_beyond_64_bits_is_a_located_error_not_an_overflow(tmp_path, extra, field):
    rows = [
        {"message_id": "a", "parent_id": None, "message_tree_id": "a", "role": "prompter", "text": "hi"},
        {"message_id": "b", "parent_id": "a", "message_tree_id": "a", "role": "assistant", "text": "yo", **extra},
    ]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        OasstQualityError, match=rf"line 2, field '{re.escape(field)}': 9223372036854775808 does not fit"
    ):
        oq.load(path)
    lenient = oq.load(path, lenient=True)
    assert list(lenient.messages["message_id"]) == ["a"] and len(lenient.rejected) == 1
