import os

import numpy as np
import pytest

import oasst_quality as oq
from oasst_quality import langid_model as lm

pytest.importorskip("py3langid")

ODD = [
    "",
    "a",
    "HELLO THERE, GENERAL KENOBI",
    "```\nprint(1)\n```",
    "日本語のテキストです",
    "Ünïcödé café",
    "\ud800 lone",
]


@pytest.fixture(scope="module")
def texts(shared) -> list[str]:
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    return ds.messages["text"].fillna("").tolist() + ODD


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OASST_QUALITY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _py3langid_itself():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def test_batch_classify_is_py3langids_own(texts, cache):
    """Same languages and bit-identical probabilities as py3langid's classify, text by text."""
    codes, probs = lm.load().classify(texts)
    reference = _py3langid_itself()
    expected = [reference.classify(t) for t in texts]
    assert codes == [c for c, _ in expected]
    assert np.array_equal(probs, [p for _, p in expected])


def test_the_walk_batches_and_finishes_one_text_at_a_time(monkeypatch, cache):
    """All batched, or the longest texts walked one by one: the same features."""
    model = lm.load()
    encoded = [lm._encode(t) for t in ["a much longer text than the others, " * 5, "short", "", "mid size text"]]
    monkeypatch.setattr(lm, "_BATCH_FROM", 1)
    batched = model._features(encoded)
    monkeypatch.setattr(lm, "_BATCH_FROM", 10**9)
    one_by_one = model._features(encoded)
    assert all(np.array_equal(a, b) for a, b in zip(batched, one_by_one))
    assert [len(f) for f in batched] == [len(e) for e in encoded]


def test_the_cache_is_written_once_and_then_mapped(cache, monkeypatch):
    first = lm.load()
    [folder] = cache.iterdir()
    assert folder.name.startswith("py3langid-") and not os.stat(folder).st_mode & 0o077
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.npy" for name in lm._KINDS)
    monkeypatch.setattr(lm, "_decompress", lambda source: pytest.fail("decompressed again"))
    second = lm.load()
    (codes, probs), (codes_again, probs_again) = first.classify(ODD), second.classify(ODD)
    assert codes == codes_again and np.array_equal(probs, probs_again)


def test_an_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("OASST_QUALITY_CACHE", str(blocker / "cache"))  # cannot be created
    codes, _ = lm.load().classify(["This is plainly an English sentence."])
    assert codes == ["en"]


@pytest.mark.parametrize("damage", ["truncate", "open to others", "wrong shape"])
def test_an_unsound_cache_is_rebuilt(cache, damage):
    lm.load()
    [folder] = cache.iterdir()
    if damage == "truncate":
        path = folder / "ptc.npy"
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "open to others":
        folder.chmod(0o777)
    else:
        np.save(folder / "pc.npy", np.zeros(3, dtype=np.float32))
    assert lm._read(folder) is None
    codes, _ = lm.load().classify(["This is plainly an English sentence."])
    assert codes == ["en"]
    assert lm._read(folder) is not None  # rebuilt


def test_a_cache_folder_that_is_a_link_is_neither_read_nor_deleted(cache, tmp_path):
    lm.load()
    [folder] = cache.iterdir()
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)  # a sound copy, reached through a link
    folder.symlink_to(elsewhere, target_is_directory=True)
    assert lm._read(folder) is None
    codes, _ = lm.load().classify(["This is plainly an English sentence."])  # from memory
    assert codes == ["en"] and folder.is_symlink() and lm._read(elsewhere) is not None


def _counting_decompressions(monkeypatch) -> list:
    calls, real = [], lm._decompress
    monkeypatch.setattr(lm, "_decompress", lambda source: calls.append(source) or real(source))
    return calls


def test_under_umask_002_the_cache_is_written_once_and_then_read(tmp_path, monkeypatch):
    root = tmp_path / "missing" / "cache"  # the root and a folder above it made by load
    monkeypatch.setenv("OASST_QUALITY_CACHE", str(root))
    calls = _counting_decompressions(monkeypatch)
    old = os.umask(0o002)
    try:
        lm.load()
        lm.load()
    finally:
        os.umask(old)
    assert len(calls) == 1
    assert [os.stat(p).st_mode & 0o777 for p in (root.parent, root)] == [0o700, 0o700]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="no uids: every folder is trusted")
def test_no_cache_is_written_into_a_root_others_may_write_to(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o775)
    monkeypatch.setenv("OASST_QUALITY_CACHE", str(root))
    calls = _counting_decompressions(monkeypatch)
    codes, _ = lm.load().classify(["This is plainly an English sentence."])
    assert codes == ["en"] and len(calls) == 1 and not any(root.iterdir())
