"""The report at 1x, 4x and 10x OASST2's size: in memory (one process) against Dask (2 workers).

Synthetic exports (``synthetic.py``: trees resampled from the real ones, a contributor pool that
grows with the size) are written once, with a planted per-user export (``planted_export.py``'s
annotators: three labellers on a share of the labelled messages, three rankers on the same share
of the ranked reply sets) that both paths read as ``--annotations`` and ``--rankings``. Then each
path runs in its own process, measured in the same run: wall time, CPU seconds (for Dask the
client's, the scheduler's thread among them, and every worker's), the in-memory process's peak
memory, and for Dask each worker's peak and the client's. Checks that both metrics.json agree to
1e-9.

    python benchmarks/bench_scale.py [--scales 1,4,10] [--workers 2] [--annotated 0.1] [--folder DIR] [--pairs]

``--pairs`` adds the suspect preference pairs to both reports (``report --pairs``: each partition's
evidence, the model fitted on the client).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import orjson
import planted_export
import synthetic
from _timing import cpu, peak_mb

OASST2_MESSAGES, OASST2_TREES = 135_174, 55_600  # the size the issue measured as 1x
USERS_PER_MESSAGE = 13_500 / 161_443  # oasst1's volunteers per message


def _peak_gb() -> float:
    return peak_mb() / 1024


def _planted(path: Path, share: float, seed: int) -> tuple[Path, Path]:
    """The planted per-user export of ``share`` of the labelled messages and of the ranked reply
    sets of the synthetic export at ``path`` (backend text_labels and reaction rows), streamed."""
    votes, ranks = (path.with_name(f"{path.stem}_{share:g}_{n}.jsonl") for n in ("text_labels", "reactions"))
    if votes.exists() and ranks.exists():
        return votes, ranks
    rng = np.random.default_rng(seed)
    ranked: dict[str, list] = {}
    with open(path, "rb") as fh, open(votes, "wb") as out:
        for line in fh:
            r = orjson.loads(line)
            if r["rank"] is not None:
                ranked.setdefault(r["parent_id"], []).append((r["rank"], r["message_id"]))
            if r["labels"] and rng.random() < share:
                means = dict(zip(r["labels"]["name"], r["labels"]["value"]))
                for who in rng.choice(planted_export.LABELLERS, 3, replace=False):
                    out.write(
                        orjson.dumps(planted_export.text_labels_row(rng, r["message_id"], means, str(who))) + b"\n"
                    )
    with open(ranks, "wb") as out:
        for group, replies in ranked.items():
            if len(replies) > 1 and rng.random() < share:
                order = [m for _, m in sorted(replies)]
                for who in rng.choice(planted_export.RANKERS, 3, replace=False):
                    out.write(orjson.dumps(planted_export.reaction_row(rng, group, order, str(who), 0.05)) + b"\n")
    return votes, ranks


def _pair_verdicts(engine, pairs: bool):
    """With ``pairs``, the suspect preference pairs of the engine's partitions (``report --pairs``)."""
    from oasst_quality.verdicts.pairs import suspect_pairs

    return suspect_pairs(engine) if pairs else None


def _in_memory(path: str, out: str, annotations: list[str], pairs: bool) -> dict:
    import oasst_quality as oq
    from oasst_quality import report
    from oasst_quality.annotations import read
    from oasst_quality.engine import InMemory

    t, c0 = time.perf_counter(), cpu()
    ds = oq.load(path)
    for found in annotations:
        ds = ds.with_annotations(read(found), source=found)
    engine = InMemory(ds)
    report.build(engine, out, quiet=True, pairs=_pair_verdicts(engine, pairs))
    return {"wall_s": time.perf_counter() - t, "cpu_s": cpu() - c0, "peak_gb": _peak_gb()}


def _dask(path: str, out: str, workers: int, annotations: list[str], pairs: bool) -> dict:
    from oasst_quality import report, scale
    from oasst_quality.annotations import read

    with scale.cluster(workers=workers) as client:
        client.run(lambda: __import__("oasst_quality.report"))  # worker start-up is not the data's cost
        before = client.run(cpu)
        t, c0 = time.perf_counter(), cpu()
        parts = scale.partition(path, client)
        for found in annotations:
            parts.with_annotations(read(found), source=found)
        report.build(parts, out, quiet=True, pairs=_pair_verdicts(parts, pairs))
        wall, client_cpu = time.perf_counter() - t, cpu() - c0
        after = client.run(cpu)
        peaks = client.run(_peak_gb)
    workers_cpu = sum(after[w] - before[w] for w in after)
    return {
        "wall_s": wall,
        "cpu_s": client_cpu + workers_cpu,
        "client_cpu_s": client_cpu,
        "partitions": len(parts),
        "worker_peak_gb": max(peaks.values()),
        "client_peak_gb": _peak_gb(),
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
    p.add_argument("--annotated", type=float, default=0.1, help="share with planted per-user data (0: none)")
    p.add_argument("--folder", type=Path, default=Path("/tmp/oq-scale"))
    p.add_argument("--pairs", action="store_true", help="add the suspect preference pairs, as report --pairs")
    p.add_argument("--run", nargs="+", metavar="ENGINE PATH OUT [ANNOTATIONS...]", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run:  # one measured path, in a fresh process
        engine, path, out, *found = a.run
        if engine == "memory":
            print(json.dumps(_in_memory(path, out, found, a.pairs)))
        else:
            print(json.dumps(_dask(path, out, a.workers, found, a.pairs)))
        return
    a.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in map(int, a.scales.split(",")):
        n = scale * OASST2_MESSAGES
        path = a.folder / f"synthetic_{scale}x.jsonl"
        if not path.exists():
            users = round(n * USERS_PER_MESSAGE)
            synthetic.write(path, synthetic.generate(n, scale * OASST2_TREES, seed=scale, n_users=users))
        found = [str(f) for f in _planted(path, a.annotated, scale)] if a.annotated else []
        row = {"scale": f"{scale}x", "messages": n, "size_gb": path.stat().st_size / 2**30}
        row["annotation_rows"] = sum(Path(f).read_bytes().count(b"\n") for f in found)
        for engine in ("memory", "dask"):
            out = a.folder / f"report_{scale}x_{engine}{'_pairs' if a.pairs else ''}"
            cmd = [sys.executable, __file__, "--workers", str(a.workers), *(["--pairs"] if a.pairs else [])]
            cmd += ["--run", engine, str(path), str(out), *found]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            row |= {f"{engine}_{k}": v for k, v in res.items()}
        reports = [a.folder / f"report_{scale}x_{e}{'_pairs' if a.pairs else ''}" for e in ("memory", "dask")]
        same = _same(*(json.loads((r / "metrics.json").read_text()) for r in reports))
        row["metrics_equal_1e-9"] = same
        row["dask_over_memory_time"] = row["dask_wall_s"] / row["memory_wall_s"]
        row["dask_over_memory_cpu"] = row["dask_cpu_s"] / row["memory_cpu_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        "\n| scale | messages | in memory: s, CPU s (peak GB) | Dask, 2 workers: s, CPU s (peak GB per worker; client) "
        "| time, Dask / memory | CPU, Dask / memory | equal |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scale']} | {r['messages']:,} | {r['memory_wall_s']:.0f}, {r['memory_cpu_s']:.0f} "
            f"({r['memory_peak_gb']:.2f}) | {r['dask_wall_s']:.0f}, {r['dask_cpu_s']:.0f} "
            f"({r['dask_worker_peak_gb']:.2f}; {r['dask_client_peak_gb']:.2f}) | "
            f"{r['dask_over_memory_time']:.2f} | {r['dask_over_memory_cpu']:.2f} | {r['metrics_equal_1e-9']} |"
        )


if __name__ == "__main__":
    main()
