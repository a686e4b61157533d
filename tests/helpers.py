"""Small builders of OASST records, and the checks several test files share."""

import json
import math
import re
import shutil


def msg(mid, parent=None, role="prompter", tree="t1", **fields):
    rec = {
        "message_id": mid,
        "parent_id": parent,
        "message_tree_id": tree,
        "role": role,
        "lang": "en",
        "text": f"text of {mid}",
        "rank": None,
    }
    rec.update(fields)
    return rec


def jsonl(records):
    return "".join(json.dumps(r) + "\n" for r in records)


def sample_trees(path, n):
    """The bundled sample's first ``n`` trees written to ``path`` (JSONL); returns ``path``."""
    import gzip

    from oasst_quality import sample_path

    rows = [json.loads(line) for line in gzip.open(sample_path(), "rt")]
    trees = set(list(dict.fromkeys(r["message_tree_id"] for r in rows))[:n])
    path.write_text(jsonl(r for r in rows if r["message_tree_id"] in trees))
    return path


def tiny_bert(folder, words, *, layers=1, num_labels=None):
    """A tiny BERT tokenizer and config saved in ``folder`` (imports transformers lazily).

    Returns (tokenizer, config); the caller builds the model class it needs.
    """
    import transformers

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = transformers.BertTokenizer(str(vocab))
    tokenizer.save_pretrained(folder)
    extra = {"num_labels": num_labels} if num_labels else {}
    config = transformers.BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        **extra,
    )
    config.save_pretrained(folder)
    return tokenizer, config


#: Report fields a numerical optimizer gives (the label models' Beta priors and the default-zero
#: mixtures, scipy's Nelder-Mead to xatol 1e-6): scipy 1.17 moved them by up to 6e-8 relative
#: against the stored outputs (tests/data/golden), and the interval width of pii's near-flat prior
#: (almost every vote 0) by 1.3e-6 absolute.
FITTED = re.compile(r"(^|/)aggregation/(default_zero/|labels/[^/]+/mean_)")


def assert_close(expected, got, path="", *, stored=False):
    """Every number equal to 1e-9, everything else exactly (metrics.json from two paths). ``stored``:
    ``expected`` was stored under other releases of the libraries, its :data:`FITTED` fields met to
    the optimizer's precision (1e-6 relative or 1e-5 absolute)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and expected.keys() == got.keys(), (path, set(expected) ^ set(got))
        for key in expected:
            assert_close(expected[key], got[key], f"{path}/{key}", stored=stored)
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(expected) == len(got), path
        for i, (x, y) in enumerate(zip(expected, got)):
            assert_close(x, y, f"{path}[{i}]", stored=stored)
    elif isinstance(expected, float) or isinstance(got, float):
        assert expected is not None and got is not None, (path, expected, got)
        rel, absolute = (1e-6, 1e-5) if stored and FITTED.search(path) else (1e-9, 1e-9)
        assert math.isclose(expected, got, rel_tol=rel, abs_tol=absolute), (path, expected, got)
    else:
        assert expected == got, (path, expected, got)


def headless_chromium(profile) -> list[str]:
    """The command line of a headless Chromium with its own ``profile`` folder and no network
    chatter (skips the test where Chromium is not installed; .ci/run installs Debian's)."""
    import pytest

    path = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if path is None:
        pytest.skip("headless Chromium is not installed (.ci/run installs Debian's chromium)")
    return [
        path,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
    ]
