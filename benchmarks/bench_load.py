"""Load benchmark: the full OASST-scale synthetic export, with its forest.

Prints messages/s and peak memory for ``oasst_quality.load`` (building every tree's graph) and for
a plain ``json`` + ``pandas.DataFrame`` baseline measured in the same run, each in its own process
so that peak memory is its own.

    python benchmarks/bench_load.py [--messages 161443 --trees 66497]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _ours(path: str) -> dict:
    import oasst_quality as oq

    t0 = time.perf_counter()
    ds = oq.load(path)
    t_load = time.perf_counter() - t0
    n_graphs = sum(1 for _ in ds.forest.graphs())
    ds.forest.stats()
    return {
        "seconds": time.perf_counter() - t0,
        "load_seconds": t_load,
        "messages": len(ds.messages),
        "graphs": n_graphs,
    }


def _baseline(path: str) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        frame = pd.DataFrame([json.loads(line) for line in fh])
    return {"seconds": time.perf_counter() - t0, "messages": len(frame)}


def _child(which: str, path: str) -> None:
    result = {"ours": _ours, "baseline": _baseline}[which](path)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(which: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=161_443)
    parser.add_argument("--trees", type=int, default=66_497)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    sys.path.insert(0, str(HERE))
    import synthetic

    path = HERE / "out" / f"synthetic_{args.messages}_{args.trees}.jsonl"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        synthetic.write(path, synthetic.generate(args.messages, args.trees, seed=0))
    ours, base = _run("ours", path), _run("baseline", path)
    n = ours["messages"]
    print(f"file: {path.name} ({path.stat().st_size / 1e6:.0f} MB, {n} messages, {ours['graphs']} trees)")
    print(
        f"oasst_quality.load + forest: {ours['seconds']:.2f} s ({n / ours['seconds']:,.0f} messages/s; "
        f"load alone {ours['load_seconds']:.2f} s), peak {ours['peak_mb']:.0f} MB"
    )
    print(
        f"json + pandas baseline:      {base['seconds']:.2f} s ({n / base['seconds']:,.0f} messages/s), "
        f"peak {base['peak_mb']:.0f} MB"
    )
    print(
        f"ratio (ours / baseline time): {ours['seconds'] / base['seconds']:.2f}; target < 10 s and < 2 GB: "
        f"{'met' if ours['seconds'] < 10 and ours['peak_mb'] < 2048 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
