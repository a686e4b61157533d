"""The report as a reader sees it, in headless Chromium: an export without labels (the LAION sample) and
the bundled sample with planted per-annotator votes and rankings. Each page is rendered, screenshotted,
and read for the sentences that must (and must not) be there."""

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
from helpers import headless_chromium

import oasst_quality as oq
from oasst_quality import annotations as an
from oasst_quality import report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import planted_export


def _render(html: Path, tmp_path: Path) -> tuple[str, Path]:
    """(the DOM after the page ran, a full-width screenshot of its top) from headless Chromium."""
    base = headless_chromium(tmp_path / "profile")
    dom = subprocess.run([*base, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    shot = tmp_path / "page.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars", html.as_uri()],
        capture_output=True,
        timeout=120,
    )
    return dom, shot


def _assert_drawn(shot: Path) -> None:
    """The screenshot shows a page: not blank, with text and figures (many distinct shades)."""
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] == 1280
    gray = pixels[..., :3].mean(axis=2)
    assert gray.std() > 0.05  # not one flat colour
    assert len({round(float(v), 2) for v in gray[::7, ::7].ravel()}) > 20


def _text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom[dom.index("<body>") :]))


def test_an_export_without_labels_says_so(shared, tmp_path):
    ds = oq.load(shared / "oasst_laion_en100_sample" / "en_100_tree.jsonl.gz")
    html = report.build(ds, tmp_path / "r", n_resamples=50, quiet=True)
    dom, shot = _render(html, tmp_path)
    _assert_drawn(shot)
    text = _text(dom)
    assert "The export carries no labels, so there is no agreement between labellers to measure." in text
    assert "The export carries no labels, so there is nothing to aggregate." in text
    assert "Every message is in one language (en)." in text
    assert "oasst-quality toxicity --rescore" in text and "score_texts" not in text
    assert not re.search(r">\s*–\s+–\s+–\s*<", dom) and "1.0-1.0" not in text  # a missing interval is one dash


def test_planted_votes_and_rankings_read_consistently(tmp_path):
    ds = oq.load_sample()
    labels, reactions = planted_export.generate(ds, swap=0.0)
    ds = ds.with_annotations(an.from_backend(labels, reactions))
    html = report.build(ds, tmp_path / "r", n_resamples=50, quiet=True)
    dom, shot = _render(html, tmp_path)
    _assert_drawn(shot)
    text = _text(dom)
    voted = set(ds.annotations.votes["label"])
    for line in re.findall(r"Agreement on the \d+ Likert labels \(([^)]*)\)", text):
        assert not voted & {x.strip() for x in line.split(",")}, line  # the votes given measure these
    assert "needs per-ranker rankings" not in text  # rankings were given
    assert not re.search(r">\s*–\s+–\s+–\s*<", dom)
    assert re.search(r"\d+ bootstrap resamples", text)
    table = dom[dom.index('<section id="flags">') :]
    kinds = re.findall(r'<td class="text">[a-z_]+</td><td class="text">(high|medium|low)</td>', table)
    order = ["high", "medium", "low"]
    assert kinds == sorted(kinds, key=order.index)  # the flag kinds, most severe first
