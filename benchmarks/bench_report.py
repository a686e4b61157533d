"""Report benchmark: the full OASST-scale synthetic export (161,443 messages) reported end to end.

Loading, every section with 1,000 bootstrap resamples, plots, HTML and metrics.json; no model-based
toxicity (the export's scores are used) and no noise study. Target: under 60 s on two cores.

    python benchmarks/bench_report.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402

import oasst_quality as oq  # noqa: E402
from oasst_quality import report  # noqa: E402


def main() -> None:
    path = HERE / "out" / "synthetic_161443_66497.jsonl"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        synthetic.write(path, synthetic.generate())
    t0 = time.perf_counter()
    ds = oq.load(path)
    t_load = time.perf_counter() - t0
    timings = {}
    with tempfile.TemporaryDirectory() as out:
        metrics, _ = report.compute(ds, quiet=True)  # warm nothing: compute() is what build() runs
        del metrics
        t1 = time.perf_counter()
        report.build(ds, out, quiet=True)
        timings["build"] = time.perf_counter() - t1
    total = t_load + timings["build"]
    print(
        f"load {t_load:.1f} s + report {timings['build']:.1f} s = {total:.1f} s for {len(ds.messages):,} messages "
        f"(target < 60 s: {'met' if total < 60 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
