import json
import re
import subprocess

import pytest
from helpers import headless_chromium

import oasst_quality as oq
from oasst_quality import report
from oasst_quality import toxicity as tx

SECTIONS = ["structure", "agreement", "aggregation", "consensus", "skew", "toxicity"]
PAYLOADS = ["<script>document.title='pwned'</script>", "<img src=x onerror=\"document.title='pwned'\">"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    ds = oq.load_sample()
    # plant markup in the texts the report shows: the messages where model and humans disagree most
    ids = tx.disagreements(ds, k=2)["item"].tolist()
    text = ds.messages["text"].copy()
    for mid, payload in zip(ids, PAYLOADS):
        text[ds.messages["message_id"] == mid] = f"before {payload} after"
    ds.messages["text"] = text
    out = tmp_path_factory.mktemp("report")
    html = report.build(ds, out, n_resamples=50, quiet=True)
    return html, json.loads((out / "metrics.json").read_text())


def test_metrics_json_has_every_section(built):
    _, metrics = built
    assert set(SECTIONS) <= set(metrics) and metrics["meta"]["schema_version"] == report.SCHEMA_VERSION
    assert metrics["structure"]["forest"]["n_messages"] == 2022
    assert metrics["agreement"]["flags"]["spam"]["alpha_low"] <= metrics["agreement"]["flags"]["spam"]["alpha"]
    assert "quality" in metrics["agreement"]["not_computable"]
    assert metrics["consensus"]["n_preference_pairs"] == 1026
    assert metrics["toxicity"]["source"] == "export"
    bands = metrics["consensus"]["reference_bands"]
    assert {b["agreement"] for b in bands} >= {0.81, 0.63, 0.726, 0.773, 0.65, 0.87}
    assert all(b["source"] and b["convention"] and b["ties"] for b in bands)
    for name in SECTIONS:
        assert metrics["summary"].get(name), name


def test_html_escapes_dataset_text(built):
    html, _ = built
    page = html.read_text()
    assert "<script" not in page.lower()
    assert "<img src=x" not in page  # the tag survives only as escaped text
    assert "&lt;script&gt;document.title=" in page
    assert 'id="reference-bands"' in page and "81.0%" in page and "72.6% ± 1.5%" in page
    assert "needs per-ranker rankings" in page  # the export alone cannot measure its own agreement


def test_renders_in_headless_chromium(built, tmp_path):
    html, metrics = built
    cmd = [*headless_chromium(tmp_path / "profile"), "--dump-dom", html.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert "<title>oasst_quality report</title>" in dom  # no payload ran
    body = dom[dom.index("<body>") :]
    assert body.index('<section id="findings">') < body.index("<section", body.index('<section id="findings">') + 1)
    assert re.search(r'<li class="sev-(high|medium)">.*?<a href="#agreement">evidence</a>', body)
    assert "pwned</title>" not in dom
    for section in SECTIONS:
        assert f'<section id="{section}">' in dom, section
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', dom)
    assert {"depth", "branching", "languages", "agreement", "zero_bias", "lorenz", "calibration"} <= set(images)
    assert "before &lt;script&gt;document.title='pwned'&lt;/script&gt; after" in dom
    assert "&lt;img src=x onerror=" in dom
    assert f"{metrics['structure']['forest']['n_messages']:,}" in dom


def test_findings_come_first_ranked_with_numbers_and_links(built):
    html, metrics = built
    findings = metrics["findings"]
    assert 5 <= len(findings) <= 10
    order = ["high", "medium", "low", "info"]
    assert [order.index(f["severity"]) for f in findings] == sorted(order.index(f["severity"]) for f in findings)
    page = html.read_text()
    body = page[page.index("<body>") :]
    assert body.index('<section id="findings">') < body.index('<section id="structure">')
    for f in findings:
        assert f'<section id="{f["section"]}">' in page  # each links to its evidence
        assert re.search(r"\d", f["text"])  # and says its number
    assert any("95% CI" in f["text"] for f in findings)
    assert not metrics["meta"]["source"].startswith("/")  # no machine path in a shared report


def test_every_section_of_the_registry_has_its_template_and_a_link(built):
    from importlib.resources import files

    from oasst_quality.report import sections

    html, metrics = built
    page = html.read_text()
    templates = files("oasst_quality.report") / "templates" / "sections"
    for s in sections.SECTIONS:
        assert (templates / f"{s.name}.html.j2").is_file(), s.name
        if s.name in metrics:
            assert f'<a href="#{s.name}">{s.nav}</a>' in page and f'<section id="{s.name}">' in page
    assert "annotators" not in metrics and "noise_study" not in metrics  # a section with nothing to say is left out


def test_the_in_memory_engine_is_the_one_partition_case():
    from oasst_quality import adapter
    from oasst_quality.engine import InMemory
    from oasst_quality.report import sections

    ds = oq.load_sample()
    engine = InMemory(ds)
    stats = engine.map_reduce(sections.first_pass, merge=sections.merge)
    assert set(stats) == {s.name for s in sections.SECTIONS if s.partial is not None and not (s.apart or s.aside)}
    # finalized aside, from its own pass; no per-annotator data attached: the section is left out
    assert sections.section_partial(ds, adapter.tables(ds), "annotators") is None
    again = sections.first_pass(ds, adapter.tables(ds))
    assert stats["consensus"] == again["consensus"] and stats["structure"] == again["structure"]
    # merging a partition with itself doubles what adds and concatenates what lists
    twice = sections.merge(stats, stats)
    assert twice["consensus"]["n_preference_pairs"] == 2 * stats["consensus"]["n_preference_pairs"]
    tox = sections.section_partial(ds, adapter.tables(ds), "toxicity")  # finalized apart: its own partial
    scores, human = sections.section_merge("toxicity", tox, tox)  # unpacked: joined, sorted by message id
    assert len(scores) == 2 * len(tox[0]) and len(human) == 2 * len(tox[1])
    assert scores.index.is_monotonic_increasing
    assert engine.submit(sections.first_pass).result().keys() == stats.keys()


def test_an_in_memory_report_replaces_the_flags_folder_a_dask_report_wrote(tmp_path):
    import pandas as pd

    from oasst_quality.flags import FLAG_COLUMNS, write_part

    (tmp_path / "flags.parquet").mkdir()  # what a Dask report leaves: a folder of parts
    write_part(pd.DataFrame(columns=FLAG_COLUMNS), tmp_path / "flags.parquet", 0)
    report.build(oq.load_sample(), tmp_path, n_resamples=10, quiet=True)
    assert (tmp_path / "flags.parquet").is_file() and len(pd.read_parquet(tmp_path / "flags.parquet")) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags.csv", "flags.parquet", "index.html", "metrics.json"]


def test_a_flag_alpha_without_an_interval_says_why_in_the_findings():
    from oasst_quality.report import prose, sections

    stats = {"spam": {"n_messages": 1, "n_votes": 40, "n_inconsistent": 0, "patterns": {(40, 20): 1}}}
    m = {"agreement": sections._agreement(stats, sections.Context(None, 20, 0))}
    spam = m["agreement"]["flags"]["spam"]
    assert (spam["alpha_low"], spam["alpha_no_interval"]) == (None, "one pairable item")
    assert "alpha_no_interval" not in m["agreement"]["flags"].get("toxic", {})
    assert "(no interval: one pairable item, 1 messages" in prose.agreement_findings(m)[0]["text"]


def test_a_per_annotator_alpha_without_an_interval_says_why():
    import pandas as pd

    from oasst_quality.per_annotator import agreement_from_votes

    one = pd.DataFrame({"item": "a", "annotator": list("wxyz"), "label": "spam", "value": [1.0, 1, 0, 0], "count": 1})
    row = agreement_from_votes(one, n_resamples=30).iloc[0]
    assert row["alpha_low"] is None and row["alpha_no_interval"] == "one pairable item"


def test_an_estimate_interval_on_the_page_takes_its_confidence():
    from oasst_quality.report.render import _estimate_interval

    e = {"low": 0.5621, "high": 0.5834, "confidence": 0.9}
    assert _estimate_interval(e, pct=True, confidence=True) == "90% CI 56.2% – 58.3%"
    gone = e | {"low": None, "no_interval": "one reply set"}
    assert _estimate_interval(gone, pct=True, confidence=True) == "no interval: one reply set"
    assert _estimate_interval({"low": -0.0001, "high": 0.0123}) == "0.000 – 0.012"  # never "-0.000"
