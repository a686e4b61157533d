"""Partitioned reads equal one file: the real OASST samples cut by lines into 3 and into 7 files, in
shuffled order, one file given twice, give on Dask the in-memory report of the whole data.

The bundled sample is byte for byte the Turku file of shared/data (tests/test_io.py checks it), so
it stands for both here.
"""

import gzip
import json
import random

import pytest
from helpers import assert_close
from test_golden import GOLDEN, SAMPLES, path_of

import oasst_quality as oq
from oasst_quality import report, scale

pytest.importorskip("distributed")
RESAMPLES = 20  # both engines bootstrap the same merged statistics: equality does not need more
SPLIT = ["bundled", "openpaws", "laion"]


@pytest.fixture(scope="module")
def client():
    with scale.cluster(workers=2) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_pictures(monkeypatch):
    """Figures are drawn but not encoded as PNG (most of a small report's time; no number in them)."""
    import matplotlib.pyplot as plt

    from oasst_quality.report import plots

    monkeypatch.setattr(plots, "_uri", lambda fig: plt.close(fig) or "")


def _split(lines: list[bytes], k: int, folder, seed: int) -> list:
    """``lines`` dealt at random into ``k`` files (each in shuffled order), the files listed in
    shuffled order, and the second one listed again at the end."""
    rng = random.Random(seed)
    order = list(range(len(lines)))
    rng.shuffle(order)
    paths = []
    for i in range(k):
        path = folder / f"part-{i}.jsonl"
        path.write_bytes(b"".join(lines[j] for j in order[i::k]))
        paths.append(path)
    rng.shuffle(paths)
    return [*paths, paths[1]]


def _metrics(data) -> dict:
    """The report's sections (as metrics.json writes them) and the flag counts: the examples' evidence
    names files and lines, which differ between one file and its pieces."""
    metrics, _ = report.compute(data, quiet=True, n_resamples=RESAMPLES)
    metrics = json.loads(json.dumps(metrics, default=str))
    metrics["structure"].pop("source")
    out = {name: metrics[name] for name in ("structure", "agreement", "aggregation", "consensus", "skew", "toxicity")}
    # default-zero flags are capped per partition (flags.py scales a label's all-zero excess to the
    # partition), so they are not compared here; the other kinds are
    out["flags"] = [r for r in metrics["flags"]["by_kind"] if r["kind"] != "default_zero_suspect"]
    return out


@pytest.mark.parametrize("name", SPLIT)
def test_split_files_on_dask_give_the_report_of_the_whole_data(name, k_files, request, client, tmp_path):
    shared = request.getfixturevalue("shared") if SAMPLES[name] else None
    lines = gzip.decompress(path_of(name, shared).read_bytes()).splitlines(keepends=True)
    paths = _split(lines, k_files, tmp_path, seed=k_files)
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(p.read_bytes() for p in paths))
    in_memory = _metrics(oq.load(whole, lenient=True))
    on_dask = _metrics(scale.partition(paths, client, lenient=True, n_partitions=5))
    assert_close(in_memory, on_dask)
    # and that is the original file's report with the repeated file's records set aside as duplicates
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    repeated = sum(1 for line in paths[-1].read_bytes().splitlines() if line.strip())
    got = on_dask["structure"]
    assert got["records_read"] == golden["structure"]["records_read"] + repeated
    assert got["records_loaded"] == golden["structure"]["records_loaded"]
    kind = "duplicate_tree" if golden["structure"]["form"] == "trees" else "duplicate_message"
    expected = dict(golden["structure"]["problems"])
    expected[kind] = expected.get(kind, 0) + repeated
    assert got["problems"] == expected
    for section in ("aggregation", "consensus"):  # no bootstrap in them: the resamples do not matter
        assert_close(golden[section], on_dask[section], section, stored=True)


@pytest.fixture(params=[3, 7], ids=["3 files", "7 files"])
def k_files(request):
    return request.param


def _tree(root: str, reply: str) -> dict:
    return {
        "message_tree_id": root,
        "prompt": {
            "message_id": root,
            "role": "prompter",
            "text": root,
            "replies": [{"message_id": reply, "role": "assistant", "text": reply}],
        },
    }


def test_a_message_id_in_two_partitions_is_a_duplicate_as_in_memory(client, tmp_path):
    # trees t0..t19 each reply with their own id, and t20..t39 reuse the replies of t0..t19
    trees = [_tree(f"t{i}", f"r{i % 20}") for i in range(40)]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(json.dumps(t) + "\n" for t in trees[:20]))
    second.write_text("".join(json.dumps(t) + "\n" for t in trees[20:]))
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(first.read_bytes() + second.read_bytes())
    memory = oq.load(whole)
    assert memory.problem_counts() == {"duplicate_message": 20} and memory.records_loaded == 20
    parts = scale.partition([first, second], client, n_partitions=7)
    assert_close(_metrics(memory), _metrics(parts))
    assert sum(len(f or {}) for f in parts.foreign) >= 10  # trees spread out
    problems = parts.map_reduce(lambda ds, tables: [ds.problems])
    rows = [r for frame in problems for r in frame.to_dict("records")]
    assert {r["file"] for r in rows} == {str(second)}
    assert all(r["detail"].startswith("message id 'r") and str(first) in r["detail"] for r in rows)


def test_a_dask_report_counts_each_flagged_message_once(client, tmp_path):
    # the set-aside copies of r0..r19 carry the ids of messages other partitions loaded: the
    # curation table the partitions write in parts flags each id in several parts
    trees = [_tree(f"t{i}", f"r{i % 20}") for i in range(60)]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in trees))
    report.build(oq.load(path), tmp_path / "mem", n_resamples=RESAMPLES, quiet=True)
    report.build(scale.partition([path], client, n_partitions=7), tmp_path / "dask", n_resamples=RESAMPLES, quiet=True)
    mem, dask = (json.loads((tmp_path / d / "metrics.json").read_text())["flags"] for d in ("mem", "dask"))
    assert (dask["n_flags"], dask["n_messages"]) == (mem["n_flags"], mem["n_messages"]) == (40, 20)
    assert len({p.name for p in (tmp_path / "dask" / "flags.parquet").iterdir()}) >= 2  # flags in several parts


def test_the_same_file_twice_reports_duplicates(client, tmp_path):
    path = tmp_path / "sample.jsonl"
    path.write_bytes(gzip.decompress(oq.sample_path().read_bytes()))
    parts = scale.partition([path, path], client)  # strict: a duplicate is set aside, never loaded twice
    assert parts.sources == [str(path), f"{path} (copy 2)"]
    counts = parts.map_reduce(lambda ds, tables: {"problems": ds.problem_counts(), "messages": len(ds)})
    assert counts == {"problems": {"duplicate_message": 2022, "orphan": 3, "rank_gap": 5}, "messages": 2022}
