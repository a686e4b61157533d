"""The Dask engine: the same metrics as the in-memory report, on a LocalCluster of 2 worker processes."""

import functools
import gzip
import io
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import assert_close

import oasst_quality as oq
from oasst_quality import adapter, cli, report, scale
from oasst_quality._util import jsonable
from oasst_quality.errors import FormatError, SchemaError
from oasst_quality.io import records
from oasst_quality.report import sections

pytest.importorskip("distributed")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(scope="module")
def client():
    with scale.cluster(workers=2) as c:
        yield c


def both(path, client, *, lenient=False, **kw):
    """(in-memory metrics and flags, Dask metrics and flags) of one export."""
    mem_tables, dask_tables = {}, {}
    mem, _ = report.compute(oq.load(path, lenient=lenient), quiet=True, n_resamples=200, tables=mem_tables)
    parts = scale.partition(path, client, lenient=lenient, **kw)
    dask, _ = report.compute(parts, quiet=True, n_resamples=200, tables=dask_tables)
    return (mem, mem_tables["flags"]), (dask, dask_tables["flags"]), parts


def test_bundled_sample_same_metrics_and_flags(client):
    (mem, mem_flags), (dask, dask_flags), parts = both(oq.io.sample_path(), client, n_partitions=5)
    assert len(parts) == 5  # trees hashed over partitions: each partition's statistics differ
    assert_close(mem, dask)
    pd.testing.assert_frame_equal(mem_flags, dask_flags)
    assert mem["structure"]["forest"]["n_messages"] == len(oq.load_sample())


@pytest.mark.slow
def test_synthetic_100k_same_metrics(client, tmp_path):
    import synthetic

    path = synthetic.write(tmp_path / "syn.jsonl", synthetic.generate(100_000, 41_000, seed=3))
    (mem, mem_flags), (dask, dask_flags), parts = both(path, client, blocksize=16 * 2**20)
    assert mem["structure"]["forest"]["n_messages"] == 100_000
    assert len(parts) >= 8  # several byte-range chunks, hashed by tree
    assert_close(mem, dask)
    assert len(mem_flags) == len(dask_flags) and mem_flags.equals(dask_flags)


def _broken(tmp_path) -> Path:
    lines = oq.io.sample_path().read_bytes()
    rows = gzip.decompress(lines).splitlines(keepends=True)[:60]
    rows[41] = b'{"message_tree_id": "x", "prompt": {"message_id": "m", "role": "robot", "text": "t"}}\n'
    rows[17] = b"{not json\n"
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"".join(rows))
    return path


def test_strict_errors_name_the_line_and_lenient_keeps_the_same_counts(client, tmp_path):
    path = _broken(tmp_path)
    with pytest.raises(SchemaError) as mem_err:
        oq.load(path)
    with pytest.raises(SchemaError) as dask_err:
        report.compute(scale.partition(path, client, blocksize=4096), quiet=True)
    assert dask_err.value.path == str(path) and dask_err.value.line in (18, 42)
    assert mem_err.value.line == 18
    (mem, _), (dask, _), _ = both(path, client, lenient=True, blocksize=4096)
    assert dask["structure"]["records_read"] == 60 and dask["structure"]["records_loaded"] == 58
    assert_close(mem, dask)


def _lines(bucket: scale.Bucket) -> list[tuple[int, bytes]]:
    """A bucket's raw lines with their numbers."""
    return list(zip(bucket.line.tolist(), bucket.lines(np.arange(len(bucket.line)))))


def test_line_chunks_split_every_line_once_with_its_number(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 97)) for i in range(3000)) + b"\n\n")
    chunks = scale.plan([path], blocksize=1000)
    assert len(chunks) > 50
    whole = [(r.line, r.raw) for r in records.read(path)]
    pieces = sorted(line for c in chunks for bucket in scale._split_lines(c, 3) for line in _lines(bucket))
    assert pieces == whole


@pytest.mark.parametrize(
    "data", [b"", b"a", b"a\n", b"\n\n", b"a\r\nb\rc\n\r\r\nd", b"\r", b"a\r", b"\r\n", b"x\n\ry\r\n\n"]
)
def test_line_bounds_cut_as_the_loaders_reader(data):
    starts, ends = scale._line_bounds(data)
    assert [data[a:b] for a, b in zip(starts.tolist(), ends.tolist())] == io.BytesIO(data).readlines()


def test_a_carriage_return_is_no_line_break_on_either_engine(client, tmp_path):
    """A lone \\r between two records, or raw inside a string: one line, read and refused as in memory."""
    from helpers import msg

    rows = [json.dumps(msg("m1", tree="t1")), json.dumps(msg("m2", parent="m1", role="assistant", tree="t1"))]
    path = tmp_path / "cr.jsonl"
    path.write_bytes(
        (
            rows[0]
            + "\r"
            + rows[1]
            + "\n"
            + rows[1][:-1]
            + ', "x": "a\rb"}\n'
            + json.dumps(msg("m3", tree="t2"))
            + "\r\n"
        ).encode()
    )
    (mem, _), (dask, _), _ = both(path, client, lenient=True)
    assert dask["structure"]["records_read"] == mem["structure"]["records_read"] == 3
    assert_close(mem, dask)
    with pytest.raises(SchemaError) as err:
        report.compute(scale.partition(path, client), quiet=True)
    assert err.value.line == 1


def test_split_sends_each_line_to_its_trees_partition_with_its_number(tmp_path):
    sample = gzip.decompress(oq.io.sample_path().read_bytes()).splitlines(keepends=True)[:40]
    tree = b'{"message_tree_id": "t", "prompt": {"message_id": "t", "role": "prompter", "text": "a"}}\n'
    replies = b'{"prompt": {"message_id": "r", "role": "prompter", "text": "b", "replies": []}}\n'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + b"".join([*sample[:9], b"\n", b"  \n", tree, b"{not json\n", replies, *sample[9:]])
    )
    n = 3
    buckets = [scale._split(c, n) for c in scale.plan([path], blocksize=2000)]
    got = sorted((line, raw, b) for bs in buckets for b, bucket in enumerate(bs) for line, raw in _lines(bucket))
    lines = path.read_bytes()[3:].splitlines(keepends=True)  # the byte-order mark is not part of line 1
    kept = [(i, raw) for i, raw in enumerate(lines, start=1) if raw.strip()]
    assert [(line, raw) for line, raw, _ in got] == kept  # every non-blank line once, numbered as the loader does
    for line, raw, b in got:
        value, _ = records.parse(raw, line)
        key = value.get("message_tree_id") or value.get("message_id") if value else None
        assert b == zlib.crc32((key or f"line {line}").encode()) % n
    for b in range(n):  # a partition's parts joined: their strings kept, the same lines
        joined = scale._join(*[bs[b] for bs in buckets])
        assert len(joined.data) > 1 and _lines(joined) == [x for bs in buckets for x in _lines(bs[b])]


def test_parquet_shards_and_several_inputs(client, tmp_path):
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    ds = oq.load_sample()
    ds.to_parquet(tmp_path / "all.parquet")
    table = pq.read_table(tmp_path / "all.parquet")
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "train-00000.parquet", row_group_size=300)
    pq.write_table(table.slice(half), folder / "train-00001.parquet", row_group_size=300)
    (mem, _), (dask, _), _ = both(tmp_path / "hub", client, blocksize=2**14)
    assert_close(mem, dask)
    parts = scale.partition([tmp_path / "hub", oq.io.sample_path()], client)
    stats = parts.map_reduce(sections.first_pass, merge=sections.merge)
    # the same messages twice: one dataset, the second copy set aside as duplicates (as in memory)
    assert stats["structure"]["forest"]["n_messages"] == len(ds)
    assert stats["structure"]["problems"]["duplicate_message"] == len(ds)
    assert sections.shown(parts.source) == f"hub, {oq.io.sample_path().name}"  # file names, not the machine's paths
    # a Dask DataFrame of the same shards, shuffled by tree on the cluster: the same numbers
    import dask.dataframe as dd

    frame = scale.from_frame(dd.read_parquet(folder), client, n_partitions=3)
    from_frame, _ = report.compute(frame, quiet=True, n_resamples=200)
    for m in (mem, from_frame):
        m["meta"].pop("source"), m["structure"].pop("source")
    assert_close(mem, from_frame)


def _planted(folder: Path) -> tuple[Path, Path]:
    """The bundled sample's planted per-user export (benchmarks/planted_export.py): votes, rankings."""
    import planted_export

    labels, reactions = planted_export.generate()
    paths = folder / "text_labels.jsonl", folder / "reactions.jsonl"
    for path, rows in zip(paths, (labels, reactions)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


def _flags(folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """A report's curation table (flags.parquet: a file in memory, a folder of parts on Dask) in
    the table's order, and its flags.csv lines, sorted."""
    from oasst_quality.flags import sort_flags

    return sort_flags(pd.read_parquet(folder / "flags.parquet")), sorted(
        (folder / "flags.csv").read_text().splitlines()
    )


def test_cli_report_on_dask_with_votes_rankings_and_pairs_writes_the_in_memory_report(tmp_path, capsys):
    votes, rankings = _planted(tmp_path)
    common = ["--annotations", str(votes), "--rankings", str(rankings), "--pairs", "--quiet", "--resamples", "50"]
    assert cli.main(["report", "--out", str(tmp_path / "mem"), *common]) == 0
    argv = ["report", "--engine", "dask", "--workers", "2", "--out", str(tmp_path / "dask"), *common]
    assert cli.main(argv) == 0
    mem, dask = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("mem", "dask"))
    assert_close(mem, dask)
    assert mem["annotators"]["summary"]["n_rankings"] == 1254 and len(mem["annotators"]["suspects"]) >= 4
    assert (tmp_path / "dask" / "flags.parquet").is_dir()  # the workers' parts
    with pytest.raises(FormatError, match="holds a report written by oasst-quality"):
        oq.load(tmp_path / "dask")  # a report's folder is not read as an export's shards
    (mem_table, mem_csv), (dask_table, dask_csv) = _flags(tmp_path / "mem"), _flags(tmp_path / "dask")
    pd.testing.assert_frame_equal(mem_table, dask_table)
    assert mem_csv == dask_csv and (mem_table["kind"] == "suspect_annotator").sum() > 1000
    # the preference pairs' verdicts: the rankers' votes found per partition, the model fitted on the client
    assert mem["pairs"] == dask["pairs"] and mem["pairs"]["sources"]["votes"]["n_votes"] > 0
    assert (mem_table["kind"] == "suspect_preference").sum() == mem["pairs"]["n_suspect"] > 0
    capsys.readouterr()
    assert cli.main(["report", "a.jsonl", "b.jsonl", "--out", str(tmp_path / "x")]) == 2
    assert "--engine dask" in capsys.readouterr().err


def test_noise_study_on_partitions_is_the_datasets(client, tmp_path):
    """The split made on the partitions' pairs without texts, the kept rows' texts fetched from them."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from helpers import sample_trees, tiny_bert

    from oasst_quality import reward as rw

    backbone = tmp_path / "backbone"
    backbone.mkdir()
    _, config = tiny_bert(backbone, "good bad reply answer the question is a".split())
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(backbone)
    path = sample_trees(tmp_path / "trees.jsonl", 15)
    parts = scale.partition(path, client)
    assert len(parts) > 1
    kw = dict(rates=(0.0, 0.3), mode="frozen", max_pairs=30, backbone=str(backbone), max_length=16, n_resamples=50)
    direct = rw.noise_study(rw.preference_data(oq.load(path)), **kw)
    pd.testing.assert_frame_equal(rw.noise_study(parts, **kw).runs, direct.runs)
    pd.testing.assert_frame_equal(rw.preference_data(parts), rw.preference_data(oq.load(path)))


def test_annotations_on_partitions_are_checked_as_in_memory(client, tmp_path):
    from oasst_quality import annotations as an

    votes, _ = _planted(tmp_path)
    found = an.read(votes)
    stray = an.Annotations(votes=found.votes.head(3).assign(item=["nowhere", found.votes["item"][1], "gone"]))
    with pytest.raises(SchemaError) as mem_err:
        oq.load_sample().with_annotations(stray, source="v.csv")
    parts = scale.partition(oq.io.sample_path(), client, n_partitions=3)
    with pytest.raises(SchemaError) as dask_err:
        parts.with_annotations(stray, source="v.csv")
    assert str(dask_err.value) == str(mem_err.value) and "row 1 of its votes table" in str(mem_err.value)
    # lenient: the same rows set aside; votes attached twice keep the in-memory order
    mem = oq.load_sample().with_annotations(stray, lenient=True).with_annotations(found, lenient=True)
    parts.with_annotations(stray, lenient=True).with_annotations(found, lenient=True)
    merged = functools.partial(sections.section_merge, "annotators")
    got = sections.finalize(
        sections.BY_NAME["annotators"],
        parts.map_reduce(sections.section_partial, "annotators", merge=merged),
        sections.Context(None, 20, 0),
    )
    want = sections.finalize(
        sections.BY_NAME["annotators"],
        sections.section_partial(mem, adapter.tables(mem), "annotators"),
        sections.Context(None, 20, 0),
    )
    assert got["summary"]["n_rejected"] == 2 and got["summary"]["n_vote_rows"] == len(found.votes) + 1
    assert_close(json.loads(json.dumps(jsonable(want))), json.loads(json.dumps(jsonable(got))))


def test_two_dask_reports_write_the_same_flags_files(client, tmp_path):
    # the partitions' parts are named by partition number: the same file order, so the same csv
    parts = scale.partition(oq.io.sample_path(), client, n_partitions=4)
    for run in ("a", "b"):
        report.build(parts, tmp_path / run, n_resamples=10, quiet=True)
    names = [sorted(p.name for p in (tmp_path / run / "flags.parquet").iterdir()) for run in ("a", "b")]
    assert names[0] == names[1] == [f"part-{i:05d}.parquet" for i in range(4)]
    assert (tmp_path / "a" / "flags.csv").read_bytes() == (tmp_path / "b" / "flags.csv").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "flags.parquet"), pd.read_parquet(tmp_path / "b" / "flags.parquet")
    )


def test_attaching_votes_then_rankings_gathers_the_message_ids_once(client, tmp_path):
    from oasst_quality import annotations as an

    votes, rankings = _planted(tmp_path)
    parts = scale.partition(oq.io.sample_path(), client, n_partitions=3)
    calls, map_reduce = [], parts.map_reduce
    parts.map_reduce = lambda fn, *args, **kw: calls.append(fn) or map_reduce(fn, *args, **kw)
    assert parts.with_annotations(an.read(votes)).with_annotations(an.read(rankings)) is parts
    assert calls.count(scale._message_ids) == 1


def test_the_annotation_check_is_given_only_the_loaded_ids_the_rows_name(client, tmp_path, monkeypatch):
    from oasst_quality import annotations as an

    votes, rankings = _planted(tmp_path)
    found = an.read(rankings)
    ids = pd.Index(oq.load_sample().messages["message_id"].to_numpy(), dtype=object)
    ranked = found.rankings["ranking"].tolist()
    ranked[1] = (*ranked[1], "ghost")  # a ranked reply that is not loaded
    stray = an.Annotations(
        votes=an.read(votes).votes.head(4).assign(item=lambda v: ["nowhere", *v["item"][1:]]),
        rankings=found.rankings.assign(ranking=pd.Series(ranked, dtype=object)),
    )
    named = scale._named(ids, stray)
    assert 0 < len(named) < len(ids) and named.isin(ids).all()
    # the same rows kept and set aside, and the same first error, as with every loaded id
    for lenient in (True, False):
        got = [None, None]
        for i, known in enumerate((ids, named)):
            try:
                got[i] = an.check_items(stray, known, lenient=lenient, source="s")
            except SchemaError as exc:
                got[i] = str(exc)
        if lenient:
            assert len(got[0].rejected) == 2
            for name in ("votes", "rankings", "rejected"):
                pd.testing.assert_frame_equal(getattr(got[0], name), getattr(got[1], name))
        else:
            assert got[0] == got[1] and "row 1 of its votes table" in got[0]
    given = []
    check = an.check_items
    monkeypatch.setattr(an, "check_items", lambda a, known, **kw: given.append(len(known)) or check(a, known, **kw))
    parts = scale.partition(oq.io.sample_path(), client, n_partitions=3)
    parts.with_annotations(stray, lenient=True)
    assert given == [len(named)]


def test_partitions_send_back_only_the_token_of_the_annotator_tables_the_client_holds(client, tmp_path):
    from oasst_quality import annotations as an
    from oasst_quality import partials

    votes, rankings = _planted(tmp_path)
    mem = oq.load_sample().with_annotations(an.read(votes)).with_annotations(an.read(rankings))
    parts = scale.partition(oq.io.sample_path(), client, n_partitions=3)
    parts.with_annotations(an.read(votes)).with_annotations(an.read(rankings))
    gathered = parts.map_reduce(partials.annotators_partial, merge=partials.annotators_merge)
    assert len(gathered.pieces) == 3 and all(isinstance(a, str) for a, _ in gathered.pieces)  # no tables
    got, _ = gathered.take()
    want, _ = partials.annotators_partial(mem, adapter.tables(mem)).take()
    assert len(got.votes) and len(got.rankings)
    for name in ("votes", "rankings", "rejected"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)


def test_held_annotator_tables_are_taken_only_while_their_engine_holds_them():
    """A token is looked up where the engine keeps the tables: once the engine is gone (or for a
    token of another engine beside it), taking them is a clear error, not a KeyError or an assert."""
    import gc

    from oasst_quality import partials
    from oasst_quality.annotations import Annotations
    from oasst_quality.errors import UsageError

    export = pd.DataFrame({"group": pd.Series([], dtype=object), "ranking": pd.Series([], dtype=object)})
    held = Annotations(pd.DataFrame({"item": ["a"], "annotator": ["x"], "label": ["spam"], "value": [1.0]}))
    partials.HELD["t-1"] = held
    joined, _ = partials.Gathered([("t-1", export), ("t-1", export)]).take()
    assert joined.votes["item"].tolist() == ["a"]
    with pytest.raises(UsageError, match="different Dask engines"):
        partials.Gathered([("t-1", export), ("t-2", export)]).take()
    with pytest.raises(UsageError, match="different Dask engines"):
        partials.Gathered([("t-1", export), (held, export)]).take()
    del held, joined
    gc.collect()
    with pytest.raises(UsageError, match="engine that attached these per-annotator tables is gone"):
        partials.Gathered([("t-1", export)]).take()


def test_gathered_annotator_tables_join_once_in_input_order():
    from oasst_quality import partials
    from oasst_quality.annotations import Annotations

    votes = pd.DataFrame(
        {"item": list("abcdef"), "annotator": list("xyxyxy"), "label": ["spam"] * 6, "value": [0.0, 1, 0, 1, 1, 0]}
    ).astype({"item": "str", "annotator": "str", "label": "str"})
    rankings = pd.DataFrame({"group": ["g"], "annotator": ["x"], "ranking": [("a", "b")]})
    empty = Annotations()  # an empty partition's tables (object columns) must not change the others' dtypes
    pieces = [
        (Annotations(votes.iloc[[4, 1]], rankings.iloc[:0]), rankings.iloc[:0]),
        (empty, rankings.iloc[:0]),
        (Annotations(votes.iloc[[5, 0, 3, 2]], rankings), rankings),
    ]
    gathered = partials.annotators_merge(
        partials.annotators_merge(partials.Gathered(pieces[:1]), None), partials.Gathered(pieces[1:])
    )
    joined, export = gathered.take()
    pd.testing.assert_frame_equal(joined.votes, votes)
    pd.testing.assert_frame_equal(joined.rankings, rankings)
    pd.testing.assert_frame_equal(export, rankings)
    assert gathered.pieces == []  # let go of: the joined tables are the only copy


def test_toxicity_tables_of_partitions_join_once_sorted_by_message_id():
    from oasst_quality import partials

    ids = ["m5", "m1", "m4", "m2", "m3", "m0"]
    scores = pd.DataFrame({"toxicity": [0.5, 0.1, 0.4, 0.2, 0.3, 0.0]}, index=pd.Index(ids, name="item"))
    human = pd.DataFrame({"toxicity": [1.0, 0.0, 0.5, 0.0, 1.0, 0.5], "violence": 0.0}, index=scores.index)
    pieces = [(scores.iloc[a:b].sort_index(), human.iloc[a:b].sort_index()) for a, b in ((0, 2), (2, 3), (3, 6))]
    pieces[1] = (pieces[1][0], pieces[1][1].drop(columns="violence"))  # a partition without a label's values
    merged = partials.toxicity_merge(partials.toxicity_merge(pieces[0], None), pieces[1])
    merged = partials.toxicity_merge(merged, partials.toxicity_merge(None, pieces[2]))
    assert len(merged.pieces) == 3  # kept apart until read
    joined_scores, joined_human = merged
    pairwise = pieces[0]  # what merging two at a time gave: concatenated, then sorted by id, at every merge
    for piece in pieces[1:]:
        pairwise = tuple(pd.concat([x, y]).sort_index(kind="stable") for x, y in zip(pairwise, piece))
    pd.testing.assert_frame_equal(joined_scores, pairwise[0])
    pd.testing.assert_frame_equal(joined_human, pairwise[1])
    assert list(joined_scores.index) == sorted(ids)
    again = tuple(merged)
    assert again[0] is joined_scores and again[1] is joined_human  # joined once
    # indexes that differ in name or dtype: concat's own index (no name; str, not the empty one's object)
    empty = pd.DataFrame({"toxicity": pd.Series([], dtype=float)}).set_axis(pd.Index([], dtype=object, name="item"))
    for tables in ([scores.iloc[:2], scores.iloc[2:].rename_axis("other")], [empty, scores]):
        pd.testing.assert_frame_equal(partials._sorted_join(tables), pd.concat(tables).sort_index(kind="stable"))


def test_partitions_are_dealt_to_the_workers_in_turn(client):
    import distributed

    parts = scale.partition(oq.io.sample_path(), client, n_partitions=4)
    distributed.wait(parts.parts)
    held = client.who_has(parts.parts)
    workers = [w for p in parts.parts for w in held[p.key]]
    assert len(workers) == 4 and sorted(map(workers.count, set(workers))) == [2, 2]


def test_a_partition_reads_its_lines_through_arrow_as_line_by_line(monkeypatch):
    from oasst_quality.io import writers

    lines = [json.dumps(r).encode() + b"\n" for r in writers.message_records(oq.load_sample(), "hf")]  # 2,022
    lines[1200] = b'{"message_id": "x", "rank": 1.5}\n'  # refused: its chunk goes line by line
    n = len(lines)
    bucket = scale.Bucket.of([0] * (n - 10) + [1] * 10, list(range(1, n + 1)), lines, [])  # two files
    tables = ("messages", "labels", "emojis", "detoxify", "problems")
    read = []
    real = records.read_json
    monkeypatch.setattr(records, "read_json", lambda raw: read.append(real(raw) is not None) or real(raw))
    monkeypatch.setattr(records, "CHUNK", 1024)
    through_arrow = scale._built(bucket, ["a.jsonl", "b.jsonl"], lenient=True)[0][0][0]
    assert read == [True, False, True]  # a.jsonl's 2,012 lines as 1,024 and 988 (refused), then b.jsonl's 10
    monkeypatch.setattr(
        records, "line_records", lambda source, numbers, raw: records._parsed(source, zip(numbers, raw))
    )
    line_by_line = scale._built(bucket, ["a.jsonl", "b.jsonl"], lenient=True)[0][0][0]
    for name in tables:
        pd.testing.assert_frame_equal(getattr(through_arrow, name), getattr(line_by_line, name), check_exact=True)
    assert through_arrow.records_loaded == n - 1
