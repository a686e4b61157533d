"""Every statistic unchanged: the report's numbers on the bundled and the real OASST samples equal
the outputs stored in tests/data/golden (made at db36069, before the redesign), in memory and on Dask:
to 1e-9, and the fields a numerical optimizer gives to its precision (``helpers.FITTED``: a newer
scipy's Nelder-Mead ends elsewhere within its tolerance)."""

import json
from pathlib import Path

import pytest
from helpers import assert_close

import oasst_quality as oq
from oasst_quality import report

GOLDEN = Path(__file__).parent / "data" / "golden"
SAMPLES = {
    "bundled": None,
    "turku": "oasst1_en_validation_turku/en-validation.jsonl.gz",
    "openpaws": "oasst2_openpaws_filtered/oasst2_filtered.jsonl.gz",
    "laion": "oasst_laion_en100_sample/en_100_tree.jsonl.gz",
}


def path_of(name: str, shared: Path) -> Path:
    return oq.sample_path() if SAMPLES[name] is None else shared / SAMPLES[name]


def sections(metrics: dict, golden: dict) -> dict:
    """The golden file's sections of a report's metrics, as metrics.json writes them."""
    got = json.loads(json.dumps({name: metrics[name] for name in golden}, default=str))
    got["structure"].pop("source", None)
    return got


@pytest.mark.parametrize("name", list(SAMPLES))
def test_in_memory_equals_golden(name, shared):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    metrics, _ = report.compute(oq.load(path_of(name, shared), lenient=True), quiet=True)
    assert_close(golden, sections(metrics, golden), stored=True)


@pytest.mark.slow
def test_dask_equals_golden(shared):
    pytest.importorskip("distributed")
    from oasst_quality import scale

    with scale.cluster(workers=2) as client:
        for name in SAMPLES:
            golden = json.loads((GOLDEN / f"{name}.json").read_text())
            parts = scale.partition(str(path_of(name, shared)), client, lenient=True)
            metrics, _ = report.compute(parts, quiet=True)
            assert_close(golden, sections(metrics, golden), name, stored=True)
