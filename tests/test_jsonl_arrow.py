"""JSON lines read through Arrow's JSON reader (io/bulk.read_json) load what the line-by-line read
loads: the same tables, located errors and rejected records, whether a chunk of lines goes through
Arrow or falls back to the line-by-line read."""

import gzip
import io
import json

import numpy as np
import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality.errors import OasstQualityError
from oasst_quality.io import bulk, records, writers

TABLES = ("messages", "labels", "emojis", "detoxify", "problems")
AT = 1500  # the planted line's index: in the second chunk (records.CHUNK set to bulk.SIZE)


@pytest.fixture(scope="module")
def sample_lines() -> list[bytes]:
    return [json.dumps(r).encode() for r in writers.message_records(oq.load_sample(), "hf")]


def _load(path, lenient: bool):
    try:
        return oq.load(path, lenient=lenient)
    except OasstQualityError as exc:
        return f"{type(exc).__name__}: {exc}"


def _load_both(path, monkeypatch, lenient: bool):
    """(through Arrow, line by line, rows Arrow's batches held): datasets or errors."""
    monkeypatch.setattr(records, "CHUNK", bulk.SIZE)
    arrow_rows = []
    real = records.from_arrow

    def counted(*args, **kwargs):
        batch = real(*args, **kwargs)
        arrow_rows.append(0 if batch is None else len(batch))
        return batch

    with monkeypatch.context() as m:
        m.setattr(records, "from_arrow", counted)
        through_arrow = _load(path, lenient)
    with monkeypatch.context() as m:  # the read before Arrow: GzipFile, orjson per line, no threads
        m.setattr(records, "json_batches", records.json_lines)
        line_by_line = _load(path, lenient)
    return through_arrow, line_by_line, sum(arrow_rows)


def _assert_same(a, b) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    for table, column in (("labels", "value"), ("detoxify", "score")):  # -0.0 equals 0.0: compare the signs too
        signs = [np.signbit(getattr(x, table)[column].to_numpy()) for x in (a, b)]
        np.testing.assert_array_equal(*signs)
    assert (a.records_read, a.records_loaded, a.form) == (b.records_read, b.records_loaded, b.form)


def _edit(line: bytes, fn) -> bytes:
    row = json.loads(line)
    out = fn(row)
    if isinstance(out, bytes):
        return out
    return json.dumps(out if isinstance(out, dict) else row).encode()


def _set_label(value, text: bytes | None = None):
    """The first label's value set to ``value``, or written as ``text`` (which json cannot write)."""

    def edit(row):
        row["labels"]["value"][0] = value
        return json.dumps(row).encode().replace(b"0.123456789", text) if text else None

    return edit


def _set_score(value, text: bytes | None = None):
    def edit(row):
        row["detoxify"]["toxicity"] = value
        return json.dumps(row).encode().replace(b"0.123456789", text) if text else None

    return edit


# (planted line, located in strict mode (None: it loads), Arrow still reads that line's chunk)
ACCEPTED_BY_ARROW_REFUSED_BY_RULE = {
    "label value 1.5": (_set_label(1.5), "labels.", True),
    "label value NaN": (_set_label(0.123456789, b"NaN"), "NaN", True),
    "label value -0": (_set_label(0.123456789, b"-0"), None, True),
    "null score": (_set_score(None), "detoxify.toxicity", True),
    "Infinity score": (_set_score(0.123456789, b"Infinity"), "NaN", True),
    "NUL in the message id": (lambda r: r.__setitem__("message_id", "m\x00"), "control character", True),
    "role robot": (lambda r: r.__setitem__("role", "robot"), "unknown role", True),
    "bad date": (lambda r: r.__setitem__("created_date", "2023-13-45"), "ISO 8601", True),
    "bytes not UTF-8 in the text": (
        lambda r: json.dumps(r).encode().replace(b'"text": "', b'"text": "\xff', 1),
        "UTF-8",
        False,
    ),
    "broken JSON": (lambda r: json.dumps(r).encode()[:-3], "broken JSON", False),
    "rank a float": (lambda r: r.__setitem__("rank", 1.5), "rank", False),
    "rank beyond 64 bits": (lambda r: r.__setitem__("rank", 2**63), "64 bits", False),
    "a blank line before": (lambda r: b"\n \n" + json.dumps(r).encode(), None, True),  # blank lines are skipped first
    "two objects on the line": (lambda r: json.dumps(r).encode() * 2, "Extra data", False),
    "null line": (lambda r: b"null", "JSON object", False),
    "a field outside the schema": (lambda r: r.__setitem__("events", {"a": [1, 2.5]}), None, False),
    "a field named twice": (lambda r: json.dumps(r).encode()[:-1] + b', "rank": 2}', None, False),
    "Detoxify heads in another order": (
        lambda r: r.__setitem__("detoxify", dict(reversed(list(r["detoxify"].items())))),
        None,
        False,
    ),
    "a tree record": (lambda r: {"message_tree_id": "t", "prompt": {**r, "parent_id": None}}, None, False),
}


@pytest.mark.parametrize("case", list(ACCEPTED_BY_ARROW_REFUSED_BY_RULE))
def test_a_planted_line_loads_as_line_by_line(tmp_path, monkeypatch, sample_lines, case):
    edit, located, arrow_reads_it = ACCEPTED_BY_ARROW_REFUSED_BY_RULE[case]
    lines = list(sample_lines)
    lines[AT] = _edit(lines[AT], edit)
    path = tmp_path / "planted.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for lenient in (False, True):
        through_arrow, line_by_line, arrow_rows = _load_both(path, monkeypatch, lenient)
        _assert_same(through_arrow, line_by_line)
        # the first chunk always goes through Arrow; the planted line's chunk only where Arrow can read it
        assert arrow_rows == (len(sample_lines) if arrow_reads_it else bulk.SIZE)
    strict = _load(path, lenient=False)
    if located is None:
        assert not isinstance(strict, str)
    else:
        assert isinstance(strict, str) and f"line {AT + 1}" in strict and located in strict


def test_an_object_over_two_lines_beside_two_objects_on_one_line(tmp_path, monkeypatch, sample_lines):
    """Arrow reads an object cut over two lines as one row, and two objects on one line as two: in
    one chunk the rows and lines would number the same. The chunk goes line by line."""
    rows = [json.loads(line) for line in sample_lines[:10]]
    for row in rows[4:6]:
        row.pop("detoxify", None)
    lines = [json.dumps(r).encode() for r in rows]
    cut = lines[3].index(b'"labels": ') + len(b'"labels": ')
    lines[3:6] = [lines[3][:cut], lines[3][cut:], lines[4] + lines[5]]
    path = tmp_path / "spoofed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for lenient in (False, True):
        through_arrow, line_by_line, arrow_rows = _load_both(path, monkeypatch, lenient)
        _assert_same(through_arrow, line_by_line)
        assert arrow_rows == 0
    strict = _load(path, lenient=False)
    assert isinstance(strict, str) and "line 4" in strict and "broken JSON" in strict


def test_a_clean_file_goes_through_arrow_whole(tmp_path, monkeypatch, sample_lines):
    path = tmp_path / "clean.jsonl.gz"
    path.write_bytes(gzip.compress(b"\r\n".join(sample_lines)))  # CRLF, and no newline at the end
    through_arrow, line_by_line, arrow_rows = _load_both(path, monkeypatch, lenient=False)
    _assert_same(through_arrow, line_by_line)
    assert arrow_rows == len(sample_lines)


@pytest.mark.parametrize("cut", [0.3, 0.6])
def test_a_gzip_stream_that_breaks_off_fails_as_line_by_line(tmp_path, monkeypatch, sample_lines, cut):
    lines = list(sample_lines)
    lines[1100] = lines[1100][:-3]  # broken JSON before the break in one case, after it in the other
    data = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: int(len(data) * cut)])
    for lenient in (False, True):
        through_arrow, line_by_line, _ = _load_both(path, monkeypatch, lenient)
        assert isinstance(through_arrow, str) and through_arrow == line_by_line


GZIP_ODDITIES = {
    "two members": lambda a, b: gzip.compress(a) + gzip.compress(b),
    "zeros after the member": lambda a, b: gzip.compress(a) + bytes(16),
    "bytes after the member": lambda a, b: gzip.compress(a) + b"garbage!",
    "a CRC that does not match": lambda a, b: gzip.compress(a)[:-8] + bytes(4) + gzip.compress(a)[-4:],
}


@pytest.mark.parametrize("case", list(GZIP_ODDITIES))
def test_gzip_oddities_read_as_gzipfile_reads_them(tmp_path, monkeypatch, sample_lines, case):
    """A stream that is not one whole gzip member is read again by GzipFile, from where it stopped."""
    head, tail = (b"\n".join(part) + b"\n" for part in (sample_lines[:1500], sample_lines[1500:]))
    path = tmp_path / "odd.jsonl.gz"
    path.write_bytes(GZIP_ODDITIES[case](head, tail))
    for lenient in (False, True):
        through_arrow, line_by_line, _ = _load_both(path, monkeypatch, lenient)
        _assert_same(through_arrow, line_by_line)


def test_inflated_blocks_keep_to_four_times_the_size_asked_for():
    """A stream that compresses well (1,000 times) still comes a block at a time, whole."""
    data = b"".join(b'{"text": "%d"}\n' % (i % 7) for i in range(400_000))
    stream = records._Inflated(io.BytesIO(gzip.compress(data)))
    blocks = list(iter(lambda: stream.read(1 << 16), b""))
    assert max(map(len, blocks)) <= 4 << 16 and len(blocks) >= len(data) // (4 << 16)
    assert b"".join(blocks) == data


def test_a_line_longer_than_arrows_blocks_goes_through_arrow(tmp_path, monkeypatch, sample_lines):
    lines = list(sample_lines)
    lines[AT] = _edit(lines[AT], lambda r: r.__setitem__("text", "long " * 600_000))  # 3 MB
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    through_arrow, line_by_line, arrow_rows = _load_both(path, monkeypatch, lenient=False)
    _assert_same(through_arrow, line_by_line)
    assert arrow_rows == len(sample_lines)


def test_a_line_nested_too_deep_for_arrow_goes_line_by_line(tmp_path, monkeypatch, sample_lines):
    """Arrow's JSON parser recurses per level and crashes the process near 100,000 levels (a
    200 KB line): such a line's chunk goes line by line, where the nesting is a located error."""
    import subprocess
    import sys

    deep = b'{"message_id": "deep", "events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join([*sample_lines[:20], deep, *sample_lines[20:40]]) + b"\n")
    run = "import oasst_quality as oq, sys; ds = oq.load(sys.argv[1], lenient=True); print(ds.records_loaded)"
    done = subprocess.run([sys.executable, "-c", run, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]  # on a crash: -11, a segmentation fault
    assert int(done.stdout) == 40
    monkeypatch.setattr(records, "json_batches", records.json_lines)
    strict = _load(path, lenient=False)
    assert isinstance(strict, str) and "line 21" in strict


def test_detoxify_in_another_order_sends_a_partitions_lines_line_by_line(sample_lines):
    """The Detoxify order is checked where Arrow's table is judged, for the Dask engine's runs of
    lines too (records.line_records), not only in json_batches."""
    lines = [line + b"\n" for line in sample_lines[:50]]
    numbers = list(range(1, 51))
    assert isinstance(next(records.line_records("a.jsonl", numbers, lines)), bulk.Batch)
    edit = lambda r: r.__setitem__("detoxify", dict(reversed(list(r["detoxify"].items()))))  # noqa: E731
    at = next(i for i, line in enumerate(lines) if json.loads(line).get("detoxify"))
    lines[at] = _edit(lines[at], edit) + b"\n"
    assert not any(isinstance(item, bulk.Batch) for item in records.line_records("a.jsonl", numbers, lines))


def test_the_inflated_stream_is_read_eight_blocks_ahead_in_order_and_fails_where_it_breaks():
    """zlib runs ahead of the line split by eight blocks (one was too few: it waited while Arrow
    read), the blocks come in order, and a read's error is raised at that read, not before."""
    from concurrent.futures import Future

    class Stream:
        def __init__(self) -> None:
            self.reads = 0

        def read(self, size: int) -> bytes:
            self.reads += 1
            if self.reads == 12:
                raise EOFError("cut")
            return b"%d," % self.reads

    class Now:  # a pool that runs what it is given at once
        def submit(self, fn, *args):
            future: Future = Future()
            try:
                future.set_result(fn(*args))
            except Exception as exc:
                future.set_exception(exc)
            return future

    stream = Stream()
    ahead = records._ReadAhead(stream, Now())
    assert ahead.read(1) == b"1," and stream.reads == 8
    assert [ahead.read(1) for _ in range(10)] == [b"%d," % i for i in range(2, 12)]
    with pytest.raises(EOFError, match="cut"):
        ahead.read(1)
