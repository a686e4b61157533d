"""Every input gets an answer: one-line errors, nothing lost in lenient mode, the report on any export."""

import gzip
import json
import os

import pytest
from helpers import jsonl, msg
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import oasst_quality as oq
from oasst_quality import report
from oasst_quality.cli import main

SAMPLE_LINES = gzip.decompress(oq.sample_path().read_bytes()).splitlines(keepends=True)[:40]


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _tree_lines(tmp_path, n_messages=60) -> list[bytes]:
    """The first messages of the sample, written as nested trees by our own writer."""
    (tmp_path / "flat.jsonl").write_bytes(b"".join(SAMPLE_LINES))
    ds = oq.load(tmp_path / "flat.jsonl")
    return oq.write(ds, tmp_path / "trees.jsonl", form="trees").read_bytes().splitlines(keepends=True)


# --------------------------------------------------------------------------- one line, never a traceback


@pytest.fixture
def files(tmp_path):
    (tmp_path / "folder").mkdir()
    f = {
        "folder": tmp_path / "folder",
        "csv": tmp_path / "votes.csv",
        "pretty": tmp_path / "pretty.json",
        "nan": tmp_path / "nan.jsonl",
        "array": tmp_path / "array.json",
        "empty": tmp_path / "empty.jsonl",
        "file": tmp_path / "a_file",
    }
    f["csv"].write_text("task,worker,label\n1,a,0\n1,b,1\n")  # crowd-kit's names: read as votes
    f["nine"] = tmp_path / "rankings.csv"  # one reply set of nine candidates, ranked twice
    f["nine"].write_text("group,annotator,ranking\np,r1,a>b>c>d>e>f>g>h>i\np,r2,i>h>g>f>e>d>c>b>a\n")
    f["stars"] = tmp_path / "stars.csv"  # 1-5 stars: not on the 0-1 scale shrinkage models
    f["stars"].write_text("item,annotator,value\n1,a,4\n1,b,5\n2,a,2\n2,b,3\n")
    f["odd"] = tmp_path / "odd.csv"
    f["odd"].write_text("x,y,z\n1,a,0\n")
    f["pretty"].write_text('{\n  "message_id": "m"\n}\n')
    f["nan"].write_text(json.dumps(msg("m1")).replace('"rank": null', '"rank": NaN') + "\n")
    f["array"].write_text(json.dumps([msg("m1")]))
    f["empty"].write_text("")
    f["file"].write_text("x")
    import pandas as pd

    f["zero_parquet"] = tmp_path / "zero.parquet"  # no rows, and not an export's columns
    pd.DataFrame({"a": pd.Series(dtype=int), "b": pd.Series(dtype=str)}).to_parquet(f["zero_parquet"])
    f["old_report"] = tmp_path / "old_report"  # a report written before, given as the export
    f["old_report"].mkdir()
    (f["old_report"] / "index.html").write_text("<html></html>")
    (f["old_report"] / "metrics.json").write_text("{}")
    pd.DataFrame({"message_id": ["m1"], "kind": ["orphan"], "severity": ["high"]}).to_parquet(
        f["old_report"] / "flags.parquet"
    )
    twice = msg("m1", labels={"name": ["spam", "spam"], "value": [0.0, 1.0], "count": [1, 1]})
    f["label_twice"] = tmp_path / "label_twice.jsonl"
    f["label_twice"].write_text(jsonl([msg("m0", tree="t0"), twice]))
    f["nul_id"] = tmp_path / "nul_id.jsonl"
    f["nul_id"].write_text(jsonl([msg("m1"), msg("m\x002", "m1", "assistant")]))
    f["detox"] = tmp_path / "detox.jsonl"
    f["detox"].write_text(jsonl([msg("m1", detoxify={"toxicity": 7.5})]))
    f["flag_votes"] = tmp_path / "flag_votes.csv"
    f["flag_votes"].write_text("item,annotator,label,value\nm1,a,spam,7\nm1,b,spam,0\n")
    return f


CASES = [
    (["info", "{folder}"], "is a folder"),
    (["info", "{missing}"], "file not found"),
    (["info", "{csv}"], "looks like a CSV"),
    (["info", "--lenient", "{csv}"], "no record could be read"),
    (["info", "{pretty}"], "pretty-printed JSON"),
    (["info", "{nan}"], "field 'rank'"),
    (["info", "{array}"], "JSON array"),
    (["info", "{empty}"], "empty file"),
    (["report", "--out", "{file}", "--quiet"], "is a file"),
    (["skew", "--resamples", "0"], "must be 1 or more"),
    (["noise-study", "--rates", "abc"], "comma-separated numbers"),
    (["noise-study", "--rates", "0.7"], "[0, 0.5]"),
    (["agreement", "--label", "nonexistent"], "is not in"),
    (["agreement", "{odd}"], "--item, --annotator and --value"),
    (["agreement", "{csv}", "--label", "quality"], "choose one with --label"),
    (["toxicity", "--checkpoint", "{missing}", "--config-dir", "{folder}"], "no such checkpoint"),
    (["consensus", "{csv}"], "a rankings table has group (or parent_id), annotator, ranking"),
    (["consensus", "{nine}", "--method", "kemeny_young"], "at most 8 candidates"),
    (["aggregate", "{stars}", "--method", "shrinkage"], "must be within [0.0, 1.0]"),
    (["info", "{zero_parquet}"], "not an OASST export: no message_id and role column"),
    (["info", "{old_report}"], "holds a report written by oasst-quality"),
    (["info", "{label_twice}"], "label 'spam' given twice in one message"),
    (["info", "{nul_id}"], "control character U+0000"),
    (["info", "{detox}"], "Detoxify score 7.5 outside [0, 1]"),
    (["agreement", "{flag_votes}"], "a flag vote (spam) is 0 or 1, got 7"),
]


@pytest.mark.parametrize("argv,expected", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_user_errors_are_one_line_with_exit_2(argv, expected, files, tmp_path, capsys):
    names = {**files, "missing": tmp_path / "nope.jsonl"}
    try:
        rc, _, err = run([a.format(**names) for a in argv], capsys)
    except SystemExit as exc:  # argparse's own errors: usage plus one error line, exit 2
        rc, err = exc.code, capsys.readouterr().err
    assert rc == 2, err
    assert expected in err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(("oasst-quality: error:", "oasst-quality ")), last


def test_nothing_that_is_not_an_export_validates_as_clean(files, capsys):
    for name in ("zero_parquet", "old_report", "label_twice", "nul_id", "detox"):
        rc, out, _ = run(["validate", files[name], "--json"], capsys)
        assert rc == 1, (name, out)  # not loadable, or records set aside: never "no problems"
    rc, out, _ = run(["validate", files["label_twice"], "--json"], capsys)
    assert json.loads(out)["problems"] == {"duplicate_label": 1}


def test_debug_shows_the_traceback(files, capsys):
    rc, _, err = run(["info", files["folder"], "--debug"], capsys)
    assert rc == 2 and "Traceback" in err and "is a folder" in err


# --------------------------------------------------------------------------- lenient mode keeps everything


def test_lenient_sets_aside_a_bad_date_and_keeps_the_rest(tmp_path, capsys):
    path = tmp_path / "dates.jsonl"
    path.write_text(jsonl([msg("p1", created_date="2023-13-45"), msg("p2", tree="t2"), msg("p3", tree="t3")]))
    with pytest.raises(oq.SchemaError, match=r"line 1, field 'created_date'"):
        oq.load(path)
    ds = oq.load(path, lenient=True)
    assert (ds.records_read, ds.records_loaded, len(ds.rejected)) == (3, 2, 1)
    assert "2023-13-45" in ds.rejected["raw"].iloc[0]
    rc, out, _ = run(["info", path, "--lenient"], capsys)
    assert rc == 0 and "line 1, field 'created_date'" in out  # the CLI says which line, not just a count
    rc, out, _ = run(["info", path, "--lenient", "--json"], capsys)
    assert json.loads(out)["rejected"][0]["raw"].startswith('{"message_id": "p1"')


def test_a_message_id_in_two_trees_sets_the_second_tree_aside_whole(tmp_path):
    first = {"message_tree_id": "t1", "prompt": {**msg("p1"), "replies": [msg("a1", "p1", "assistant")]}}
    reply = {**msg("a1", "q1", "assistant", tree="t2"), "replies": [msg("c1", "a1", tree="t2")]}
    second = {"message_tree_id": "t2", "prompt": {**msg("q1", tree="t2"), "replies": [reply]}}
    path = tmp_path / "dup.jsonl"
    path.write_text(jsonl([first, second]))
    for lenient in (False, True):
        ds = oq.load(path, lenient=lenient)
        assert ds.records_loaded + len(ds.rejected) == ds.records_read == 2
        assert set(ds.messages["message_id"]) == {"p1", "a1"}  # c1 is not re-parented under t1's a1
        row = ds.rejected.iloc[0]
        assert row["kind"] == "duplicate_message" and row["line"] == 2 and '"c1"' in row["raw"]


def test_validate_exit_codes_and_rejected_file(tmp_path, capsys):
    clean = tmp_path / "clean.jsonl"
    clean.write_text(jsonl([msg("p1"), msg("a1", "p1", "assistant")]))
    assert run(["validate", clean], capsys)[0] == 0
    broken = tmp_path / "broken.jsonl"
    broken.write_text(jsonl([msg("p1")]) + "{not json\n" + jsonl([msg("a1", "p1", "assistant")]))
    out_file = tmp_path / "out" / "rejected.jsonl"
    rc, out, _ = run(["validate", broken, "--json", "--rejected", out_file], capsys)
    payload = json.loads(out)
    assert rc == 1 and payload["records_rejected"] == 1 and payload["problems"] == {"parse_error": 1}
    assert out_file.read_text() == "{not json\n"
    assert run(["validate", tmp_path / "nothing.csv"], capsys)[0] == 2  # a missing file is a usage error


def test_bom_and_parquet_timestamps_are_accepted(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + b"".join(SAMPLE_LINES[:3]))
    assert len(oq.load(bom)) == 3
    ds = oq.load(bom)
    drop = ("labels", "emojis", "detoxify")
    records = [{k: v for k, v in json.loads(line).items() if k not in drop} for line in SAMPLE_LINES[:3]]
    table = pa.Table.from_pylist(records)
    dates = pa.array(ds.messages["created_date"].dt.tz_convert(None).to_numpy(), type=pa.timestamp("us", "UTC"))
    table = table.set_column(table.schema.get_field_index("created_date"), "created_date", dates)
    pq.write_table(table, tmp_path / "ts.parquet")
    again = oq.load(tmp_path / "ts.parquet")
    assert again.messages["created_date"].tolist() == ds.messages["created_date"].tolist()


# --------------------------------------------------------------------------- hostile text and outputs


def test_tex_in_labels_and_languages_renders_as_text(tmp_path):
    hostile = "$\\foo{$"
    labels = {hostile: {"value": 0.5, "count": 2}, "spam": {"value": 0.5, "count": 2}}
    path = tmp_path / "tex.jsonl"
    path.write_text(jsonl([msg("p1", lang=hostile), msg("a1", "p1", "assistant", lang=hostile, labels=labels)]))
    report.build(oq.load(path), tmp_path / "r", n_resamples=10, quiet=True)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert not [k for k, v in metrics.items() if isinstance(v, dict) and v.get("computable") is False]


def test_control_characters_never_reach_the_terminal(tmp_path, capsys):
    path = tmp_path / "ansi.jsonl"
    path.write_text(jsonl([msg("p1", lang="en\x1b[31mRED"), msg("a1", "p1", "assistant", lang="en\x1b[2J")]))
    rc, out, _ = run(["info", path], capsys)
    assert rc == 0 and "\x1b" not in out and "\\x1b[31mRED" in out


def test_report_replaces_a_planted_symlink_instead_of_following_it(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "report"
    out.mkdir()
    os.symlink(target, out / "metrics.json")
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"".join(SAMPLE_LINES))
    report.build(oq.load(path), out, n_resamples=10, quiet=True)
    assert target.read_text() == "keep me"
    assert not (out / "metrics.json").is_symlink() and json.loads((out / "metrics.json").read_text())["meta"]
    assert sorted(p.name for p in out.iterdir()) == [
        "flags.csv",
        "flags.parquet",
        "index.html",
        "metrics.json",
    ]  # no temporary left


# --------------------------------------------------------------------------- the report on every real export


def _assert_report_degrades_cleanly(path, tmp_path, lenient=False):
    ds = oq.load(path, lenient=lenient)
    report.build(ds, tmp_path / "r", n_resamples=20, quiet=True)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    failed = {k: v["reason"] for k, v in metrics.items() if isinstance(v, dict) and "error" in v}
    assert not failed  # sections may be not computable, with a reason, but none may crash
    assert '<section id="structure">' in (tmp_path / "r" / "index.html").read_text()
    return metrics


@pytest.mark.parametrize(
    "relative",
    [
        "oasst1_en_validation_turku/en-validation.jsonl.gz",
        "oasst2_openpaws_filtered/oasst2_filtered.jsonl.gz",
        "oasst_laion_en100_sample/en_100_tree.jsonl.gz",
        "oasst_laion_en100_sample/en_100_message.jsonl.gz",
    ],
)
def test_report_on_every_real_oasst_sample(relative, shared, tmp_path):
    metrics = _assert_report_degrades_cleanly(shared / relative, tmp_path, lenient=True)
    if relative.startswith("oasst_laion"):  # ranks, no labels: agreement has nothing to say, and says so
        assert metrics["agreement"]["flags"] == {} and metrics["aggregation"]["labels"] == {}


def _corrupt(lines: list[bytes], kind: str, where: int, arg: int) -> list[bytes]:
    """One deliberate corruption of a JSON-lines export."""
    lines = list(lines)
    i = where % len(lines)
    line = lines[i]
    if kind == "truncate":
        lines[i] = line[: arg % max(len(line), 1)] + b"\n"
    elif kind == "flip":
        b = bytearray(line)
        b[arg % len(b)] ^= 0xFF
        lines[i] = bytes(b)
    elif kind == "type_swap":
        for field in (b'"role": "', b'"rank": ', b'"labels": {', b'"message_id": "', b'"created_date": "'):
            if field in line:
                lines[i] = line.replace(field, field[: field.index(b":") + 2] + b'17, "x": ', 1)
                break
    elif kind == "deep":
        depth = 600 + arg % 1500
        lines[i] = (
            b'{"message_tree_id": "deep", "prompt": ' + b'{"message_id": "d", "role": "prompter", "replies": [' * depth
        )
        lines[i] += b"]}" * depth + b"}\n"
    elif kind == "duplicate":
        lines.insert(i, lines[(i + 1) % len(lines)])
    elif kind == "hostile":
        hostile = ["\x1b[31m", "$\\foo{$", "<script>alert(1)</script>", "\u202e", "\x00", "{{ 7*7 }}"][arg % 6]
        lines[i] = line.replace(b'"lang": "', b'"lang": "' + json.dumps(hostile)[1:-1].encode(), 1)
    elif kind == "truncate_file":
        lines = [*lines[:i], line[: len(line) // 2]]
    return lines


CORRUPTIONS = ["truncate", "flip", "type_swap", "deep", "duplicate", "hostile", "truncate_file"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    trees=st.booleans(),
    kinds=st.lists(st.sampled_from(CORRUPTIONS), min_size=1, max_size=3),
    where=st.integers(0, 10_000),
    arg=st.integers(0, 10_000),
    gz=st.booleans(),
    command=st.sampled_from(
        [["info", "--lenient", "--json"], ["validate", "--json"], ["info"], ["skew", "--resamples", "5"]]
    ),
)
def test_cli_on_corrupted_exports(tmp_path_factory, capsys, trees, kinds, where, arg, gz, command):
    tmp = tmp_path_factory.mktemp("corrupt")
    lines = _tree_lines(tmp) if trees else SAMPLE_LINES
    for k, kind in enumerate(kinds):
        lines = _corrupt(lines, kind, where + 7 * k, arg + 13 * k)
    data = b"".join(lines)
    path = tmp / ("bad.jsonl.gz" if gz else "bad.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    rc, out, err = run([command[0], path, *command[1:]], capsys)
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err
    if rc == 2:
        assert len(err.strip().splitlines()) == 1
    if rc in (0, 1) and "--json" in command:
        payload = json.loads(out)
        if payload.get("records_read") is not None:
            rejected = payload["records_rejected"] if "records_rejected" in payload else len(payload["rejected"])
            assert payload["records_loaded"] + rejected == payload["records_read"]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_report_on_each_corrupted_file(kind, tmp_path):
    lines = _corrupt(_tree_lines(tmp_path), kind, 3, 5)
    path = tmp_path / f"{kind}.jsonl"
    path.write_bytes(b"".join(lines))
    _assert_report_degrades_cleanly(path, tmp_path, lenient=True)


# --------------------------------------------------------------------------- no exit 3: the cases of issue #25


@pytest.fixture
def awkward(tmp_path):
    """Valid but awkward inputs a curator meets, and option values that are wrong."""
    records = [json.loads(line) for line in gzip.decompress(oq.sample_path().read_bytes()).splitlines()]
    f = {"folder": tmp_path}
    f["no_labels"] = tmp_path / "no_labels.jsonl"
    f["no_labels"].write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k not in ("labels", "detoxify")}) + "\n" for r in records)
    )
    root = next(r for r in records if r["parent_id"] is None)
    f["one"] = tmp_path / "one_message.jsonl"
    f["one"].write_text(json.dumps(root) + "\n")
    reply = next(r for r in records if r["parent_id"] == root["message_id"])
    replies = [r["message_id"] for r in records if r["parent_id"] == root["message_id"]]
    f["one_candidate"] = tmp_path / "one_candidate.csv"
    f["one_candidate"].write_text(f"parent_id,annotator,ranking\n{root['message_id']},a,{reply['message_id']}\n")
    f["foreign_group"] = tmp_path / "foreign_group.csv"
    f["foreign_group"].write_text("parent_id,annotator,ranking\nnot-in-export,a,x>y\nnot-in-export,b,y>x\n")
    f["all_ties"] = tmp_path / "all_ties.csv"
    tied = "=".join(replies[:3])
    f["all_ties"].write_text(
        f"parent_id,annotator,ranking\n{root['message_id']},a,{tied}\n{root['message_id']},b,{tied}\n"
    )
    f["junk"] = tmp_path / "junk.bin"
    f["junk"].write_bytes(b"\x00not a checkpoint")
    f["a_file"] = tmp_path / "a_file"
    f["a_file"].write_text("x")
    f["votes_jsonl"] = tmp_path / "votes.jsonl"
    f["votes_jsonl"].write_text('{"message_id": "m", "user_id": "u", "labels": {"spam": 0}}\n')
    return f


NO_EXIT_3 = [
    (["report", "{no_labels}", "--out", "{folder}/r1", "--quiet", "--resamples", "20"], 0, None),
    (["report", "{one}", "--out", "{folder}/r2", "--quiet", "--resamples", "20"], 0, None),
    (["report", "--rankings", "{one_candidate}", "--out", "{folder}/r3", "--quiet", "--resamples", "20"], 0, None),
    (
        ["report", "--rankings", "{foreign_group}", "--out", "{folder}/r4", "--quiet", "--resamples", "20"],
        2,
        "not-in-export",
    ),
    (["report", "--rankings", "{all_ties}", "--out", "{folder}/r5", "--quiet", "--resamples", "20"], 0, None),
    (["noise-study", "--agreement", "2"], 2, "--agreement"),
    (["noise-study", "--device", "tpu9"], 2, "--device"),
    (["noise-study", "--out", "{a_file}"], 2, "is a file"),
    (["noise-study", "--rates", "-0.1,0.1"], 2, "[0, 0.5]"),
    (["noise-study", "--backbone", "{folder}/nonexistent"], 2, "nonexistent"),
    (["report", "--engine", "dask", "--scheduler", "not an address", "--quiet"], 2, "scheduler"),
    (["toxicity", "--checkpoint", "{junk}", "--config-dir", "{folder}", "--rescore"], 2, "junk.bin"),
    (["flags", "--out", "{folder}/x.xlsx"], 2, ".csv or .parquet"),
    (["flags", "--out", "{folder}/no/such/dir/f.csv"], 2, "no such folder"),
    (["aggregate", "--label", "missing"], 2, "missing"),
    (["info", "{votes_jsonl}"], 2, "votes"),
    (["consensus", "--method", "nonexistent"], 2, "nonexistent"),
    (["skew", "--resamples", "-3"], 2, "must be 1 or more"),
]


@pytest.mark.parametrize("argv,code,expected", NO_EXIT_3, ids=[" ".join(a) for a, _, _ in NO_EXIT_3])
def test_no_input_ends_in_an_internal_error(argv, code, expected, awkward, capsys):
    try:
        rc, _, err = run([a.format(**awkward) for a in argv], capsys)
    except SystemExit as exc:  # argparse's own errors
        rc, err = exc.code, capsys.readouterr().err
    assert rc == code, err
    assert "Traceback" not in err and "internal error" not in err
    if rc == 2:
        assert len(err.strip().splitlines()) == 1, err
        if expected:
            assert expected in err, err


# --------------------------------------------------------------------------- corrupted votes, rankings and options

# mostly valid, so that the commands get past the reader: one row in about six is hostile
_IDS = st.one_of(*[st.sampled_from(["m1", "a1", "a2"])] * 5, st.sampled_from(["", "not-there", "x\x00y", "☃"]))
_ANNOTATORS = st.one_of(*[st.sampled_from(["ann-1", "ann-2", "ann-3"])] * 5, st.sampled_from(["", "a,b", "\x00"]))
_VALUES = st.one_of(
    *[st.sampled_from(["0", "1", "0.5", "0.25", "0.75"])] * 5,
    st.sampled_from(["-1", "7", "1e300", "nan", "inf", "", "yes", "0,5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_RANKINGS = st.one_of(
    *[st.sampled_from(["a1>a2", "a2>a1", "a1=a2"])] * 3,
    st.sampled_from(["a1>a1", "a1", "", ">", "a1>>a2", "a1>x", "a1=a2>a3"]),
)


def _csv(rows: list[tuple], header: str) -> str:
    return header + "\n" + "".join(",".join(f'"{c}"' for c in row) + "\n" for row in rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    votes=st.lists(st.tuples(_IDS, _ANNOTATORS, st.sampled_from(["spam", "quality", "odd"]), _VALUES), max_size=12),
    rankings=st.lists(st.tuples(st.sampled_from(["m1", "a1", "nope"]), _ANNOTATORS, _RANKINGS), max_size=6),
    command=st.sampled_from(
        [
            ["agreement", "{votes}", "--label", "quality"],
            ["agreement", "{votes}", "--level", "interval", "--label", "spam"],
            ["aggregate", "{votes}", "--label", "spam"],
            ["consensus", "{rankings}"],
            ["report", "{export}", "--annotations", "{votes}", "--rankings", "{rankings}", "--lenient"],
            ["report", "{export}", "--rankings", "{rankings}"],
        ]
    ),
    option=st.sampled_from([[], ["--seed", "x"], ["--resamples", "0"], ["--resamples", "3"], ["--json"]]),
)
def test_cli_on_corrupted_votes_rankings_and_options(tmp_path_factory, capsys, votes, rankings, command, option):
    tmp = tmp_path_factory.mktemp("votes")
    export = tmp / "export.jsonl"
    export.write_text(jsonl([msg("m1"), msg("a1", "m1", "assistant"), msg("a2", "m1", "assistant")]))
    (tmp / "votes.csv").write_text(_csv(votes, "message_id,annotator,label,value"))
    (tmp / "rankings.csv").write_text(_csv(rankings, "parent_id,annotator,ranking"))
    names = {"export": export, "votes": tmp / "votes.csv", "rankings": tmp / "rankings.csv"}
    argv = [a.format(**names) for a in command] + option
    if command[0] == "report":
        argv += ["--out", str(tmp / "r"), "--quiet"]
        if "--resamples" not in option:
            argv += ["--resamples", "5"]
    try:
        rc, out, err = run(argv, capsys)
    except SystemExit as exc:  # argparse: one line, exit 2
        rc, out, err = exc.code, "", capsys.readouterr().err
    event(f"{command[0]} exit {rc}")
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    if rc == 2:
        assert len(err.strip().splitlines()) == 1, err
    if rc == 0 and "--json" in option:
        json.loads(out)


def test_star_ratings_need_their_scale_on_the_command_line(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "label_studio.json"
    argv = ["report", "--annotations", example, "--out", tmp_path / "r", "--quiet", "--resamples", "20"]
    rc, _, err = run(argv, capsys)
    assert rc == 2 and "--scale 1,5" in err and len(err.strip().splitlines()) == 1
    assert run([*argv, "--scale", "1,5"], capsys)[0] == 0
