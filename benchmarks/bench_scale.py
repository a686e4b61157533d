"""The report at 1x, 4x and 10x OASST2's size: in memory (one process) against Dask (2 workers).

Synthetic exports (``synthetic.py``: trees resampled from the real ones, a contributor pool that
grows with the size) are written once, then each path runs in its own process, measured in the
same run: wall time, the in-memory process's peak memory, and for Dask each worker's peak and the
client's (the client holds the merged statistics and the flags table). Checks that both
metrics.json agree to 1e-9.

    python benchmarks/bench_scale.py [--scales 1,4,10] [--workers 2] [--folder /tmp/oq-scale]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

OASST2_MESSAGES, OASST2_TREES = 135_174, 55_600  # the size the issue measured as 1x
USERS_PER_MESSAGE = 13_500 / 161_443  # oasst1's volunteers per message


def _in_memory(path: str, out: str) -> dict:
    import oasst_quality as oq
    from oasst_quality import report

    t = time.perf_counter()
    report.build(oq.load(path), out, quiet=True)
    return {"wall_s": time.perf_counter() - t, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _dask(path: str, out: str, workers: int) -> dict:
    from oasst_quality import report, scale

    with scale.cluster(workers=workers) as client:
        client.run(lambda: __import__("oasst_quality.report"))  # worker start-up is not the data's cost
        t = time.perf_counter()
        parts = scale.partition(path, client)
        report.build(parts, out, quiet=True)
        wall = time.perf_counter() - t
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return {
        "wall_s": wall,
        "partitions": len(parts),
        "worker_peak_gb": max(peaks.values()),
        "client_peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _same(a, b, tol: float = 1e-9) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="1,4,10")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--folder", type=Path, default=Path("/tmp/oq-scale"))
    p.add_argument("--run", nargs=3, metavar=("ENGINE", "PATH", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run:  # one measured path, in a fresh process
        engine, path, out = a.run
        print(json.dumps(_in_memory(path, out) if engine == "memory" else _dask(path, out, a.workers)))
        return
    a.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in map(int, a.scales.split(",")):
        n = scale * OASST2_MESSAGES
        path = a.folder / f"synthetic_{scale}x.jsonl"
        if not path.exists():
            users = round(n * USERS_PER_MESSAGE)
            synthetic.write(path, synthetic.generate(n, scale * OASST2_TREES, seed=scale, n_users=users))
        row = {"scale": f"{scale}x", "messages": n, "size_gb": path.stat().st_size / 2**30}
        for engine in ("memory", "dask"):
            out = a.folder / f"report_{scale}x_{engine}"
            cmd = [sys.executable, __file__, "--workers", str(a.workers), "--run", engine, str(path), str(out)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            row |= {f"{engine}_{k}": v for k, v in res.items()}
        same = _same(
            *(json.loads((a.folder / f"report_{scale}x_{e}" / "metrics.json").read_text()) for e in ("memory", "dask"))
        )
        row["metrics_equal_1e-9"] = same
        row["dask_over_memory_time"] = row["dask_wall_s"] / row["memory_wall_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        "\n| scale | messages | in memory s (peak GB) | Dask, 2 workers: s (peak GB per worker; client) "
        "| time ratio | equal |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scale']} | {r['messages']:,} | {r['memory_wall_s']:.0f} ({r['memory_peak_gb']:.2f}) | "
            f"{r['dask_wall_s']:.0f} ({r['dask_worker_peak_gb']:.2f}; {r['dask_client_peak_gb']:.2f}) | "
            f"{r['dask_over_memory_time']:.2f} | {r['metrics_equal_1e-9']} |"
        )


if __name__ == "__main__":
    main()
