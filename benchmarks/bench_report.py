"""Report benchmark: ``report.build`` on an OASST2-size synthetic export, against the JSON parse floor.

The export (``synthetic.py``: 135,174 messages in 55,600 trees, gzipped JSON lines) is written once.
Two fresh processes, measured in the same run so that the ratio holds on a busy machine and each
peak memory is its own: the floor (gzip + ``orjson.loads`` of every line of the same file, the
least any reader of it does) and the report (``oasst_quality.load``, then ``report.build`` timed:
every section with 1,000 bootstrap resamples, plots, HTML, metrics.json, flags.csv and
flags.parquet; the export's Detoxify scores, no model and no noise study). Prints both times, the
ratio ``report.build / floor`` (target: at most 6) and each process's peak RSS; also in CPU
seconds (every thread of the process), which another job on the machine inflates far less.

    python benchmarks/bench_report.py [--messages 135174 --trees 55600] [--rounds 1] [--compare CHECKOUT]

``--compare`` times another source tree's ``report.build`` in the same run (before/after).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import cpu, peak_mb

HERE = Path(__file__).resolve().parent
USERS_PER_MESSAGE = 13_500 / 161_443  # oasst1's volunteers per message


def _floor(path: str) -> dict:
    import orjson

    t, c = time.perf_counter(), cpu()
    with gzip.open(path, "rb") as fh:
        n = sum(1 for line in fh if orjson.loads(line) is not None)
    return {"seconds": time.perf_counter() - t, "cpu": cpu() - c, "messages": n}


def _report(path: str) -> dict:
    import oasst_quality as oq
    from oasst_quality import report

    t = time.perf_counter()
    ds = oq.load(path)
    t_load = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        t, c = time.perf_counter(), cpu()
        report.build(ds, out, quiet=True)
        return {
            "seconds": time.perf_counter() - t,
            "cpu": cpu() - c,
            "load_seconds": t_load,
            "messages": len(ds.messages),
        }


def _child(which: str, path: str) -> None:
    result = {"floor": _floor, "report": _report}[which](path)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def _run(which: str, path: Path, checkout: Path | None = None) -> dict:
    """One measured child; ``checkout``: import oasst_quality from that source tree instead."""
    env = os.environ | ({"PYTHONPATH": str(checkout)} if checkout else {})
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(name: str, rep: dict, floor: dict) -> str:
    ratio, cpu_ratio = rep["seconds"] / floor["seconds"], rep["cpu"] / floor["cpu"]
    return (
        f"{name}: {rep['seconds']:.2f} s ({rep['cpu']:.2f} s CPU; after a {rep['load_seconds']:.2f} s load), "
        f"peak {rep['peak_mb']:.0f} MB | floor x {ratio:.1f} ({cpu_ratio:.1f} in CPU time; "
        f"target <= 6: {'met' if ratio <= 6 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=135_174)
    parser.add_argument("--trees", type=int, default=55_600)
    parser.add_argument("--rounds", type=int, default=1, help="floor and report alternately, this many times each")
    parser.add_argument("--compare", type=Path, help="also time report.build of another checkout (e.g. main's)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(HERE))
    import orjson
    import synthetic

    path = HERE / "out" / f"synthetic_{args.messages}_{args.trees}.jsonl.gz"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        users = round(args.messages * USERS_PER_MESSAGE)
        records = synthetic.generate(args.messages, args.trees, seed=1, n_users=users)
        with gzip.open(path, "wb") as fh:
            fh.writelines(orjson.dumps(r) + b"\n" for r in records)
        del records
    print(f"file: {path.name} ({path.stat().st_size / 1e6:.0f} MB gzipped)")
    for _ in range(args.rounds):
        floor = _run("floor", path)
        print(
            f"floor (gzip + orjson, {floor['messages']:,} lines): {floor['seconds']:.2f} s ({floor['cpu']:.2f} s CPU), "
            f"peak {floor['peak_mb']:.0f} MB",
            flush=True,
        )
        if args.compare:
            print(
                "  " + _line(f"report.build of {args.compare}", _run("report", path, args.compare), floor), flush=True
            )
        print("  " + _line("report.build", _run("report", path), floor), flush=True)


if __name__ == "__main__":
    main()
