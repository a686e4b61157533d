"""Load benchmark: an OASST2-size export against the floors of its two file forms, in one run.

Four measures, each in its own process (so that its peak memory is its own), taken in turns over
``--rounds`` rounds (a busy machine slows all four alike); the fastest round of each is kept:

* floor: gunzip the ``.jsonl.gz`` and ``orjson.loads`` every line (the values kept, the cyclic
  garbage collector paused, as ``load`` pauses it);
* ``oasst_quality.load`` of the same ``.jsonl.gz``;
* ``pyarrow.parquet.read_table`` of the ``.parquet`` form;
* ``oasst_quality.load`` of the ``.parquet``.

Wall seconds are the measure (pyarrow reads parquet with several threads, which the CPU seconds
of every thread, printed beside them, count in full: read those on a busy machine).

The input is the synthetic export of ``benchmarks/synthetic.py`` (135,000 messages in 55,600
trees by default, OASST2's size at oasst1's messages per tree), written once with the library's
own writer (``oq.write``, Hugging Face message form) as ``.jsonl.gz`` and ``.parquet``.

    python benchmarks/bench_load.py [--messages 135000 --trees 55600 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _timing import peak_mb

HERE = Path(__file__).resolve().parent
MEASURES = ("floor", "load_jsonl", "read_parquet", "load_parquet")


def _floor(path: str) -> dict:
    import gc
    import gzip

    import orjson

    gc.disable()
    t0, c0 = time.perf_counter(), time.process_time()
    with gzip.open(path, "rb") as fh:
        values = [orjson.loads(line) for line in fh]
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": len(values)}


def _load(path: str) -> dict:
    import oasst_quality as oq

    t0, c0 = time.perf_counter(), time.process_time()
    ds = oq.load(path)
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": len(ds.messages)}


def _read_parquet(path: str) -> dict:
    import pyarrow.parquet as pq

    t0, c0 = time.perf_counter(), time.process_time()
    table = pq.read_table(path)
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": table.num_rows}


def _child(which: str, path: str) -> None:
    fn = {"floor": _floor, "load_jsonl": _load, "read_parquet": _read_parquet, "load_parquet": _load}[which]
    result = fn(path)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def _run(which: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def inputs(n_messages: int, n_trees: int) -> tuple[Path, Path]:
    """The ``.jsonl.gz`` and ``.parquet`` forms of the synthetic export (written once, then reused)."""
    stem = HERE / "out" / f"oasst2size_{n_messages}_{n_trees}"
    gz, parquet = stem.with_suffix(".jsonl.gz"), stem.with_suffix(".parquet")
    if not (gz.exists() and parquet.exists()):
        sys.path.insert(0, str(HERE))
        import synthetic

        import oasst_quality as oq

        gz.parent.mkdir(exist_ok=True)
        plain = synthetic.write(stem.with_suffix(".jsonl"), synthetic.generate(n_messages, n_trees, seed=0))
        ds = oq.load(plain)
        oq.write(ds, gz, form="messages")
        oq.write(ds, parquet, form="messages")
        plain.unlink()
    return gz, parquet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=135_000)
    parser.add_argument("--trees", type=int, default=55_600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    gz, parquet = inputs(args.messages, args.trees)
    files = {"floor": gz, "load_jsonl": gz, "read_parquet": parquet, "load_parquet": parquet}
    runs: dict[str, list[dict]] = {m: [] for m in MEASURES}
    for _ in range(args.rounds):
        for m in MEASURES:
            runs[m].append(_run(m, files[m]))
    best = {m: min(r, key=lambda x: x["seconds"]) for m, r in runs.items()}
    rows = {best[m]["rows"] for m in MEASURES}
    if len(rows) != 1:
        raise SystemExit(f"the four measures read different row counts: {rows}")
    sizes = f"{gz.stat().st_size / 1e6:.0f} MB, {parquet.stat().st_size / 1e6:.0f} MB"
    print(f"input: {gz.name}, {parquet.name} ({sizes})")
    print(f"{rows.pop():,} messages; fastest of {args.rounds} rounds (every round's seconds in brackets)")
    labels = {
        "floor": "floor: gunzip + orjson.loads per line",
        "load_jsonl": "oasst_quality.load(.jsonl.gz)",
        "read_parquet": "pyarrow.parquet.read_table",
        "load_parquet": "oasst_quality.load(.parquet)",
    }
    for m in MEASURES:
        every = ", ".join(f"{r['seconds']:.2f}" for r in runs[m])
        cpu = min(r["cpu"] for r in runs[m])
        print(
            f"  {labels[m]:<40} {best[m]['seconds']:6.2f} s  (CPU {cpu:5.2f} s, all threads)  "
            f"peak {best[m]['peak_mb']:5.0f} MB  [{every}]"
        )
    jsonl = best["load_jsonl"]["seconds"] / best["floor"]["seconds"]
    pq = best["load_parquet"]["seconds"] / best["read_parquet"]["seconds"]
    per_round_j = [a["seconds"] / b["seconds"] for a, b in zip(runs["load_jsonl"], runs["floor"])]
    per_round_p = [a["seconds"] / b["seconds"] for a, b in zip(runs["load_parquet"], runs["read_parquet"])]
    print(
        f"load .jsonl.gz / floor:      {jsonl:.2f}x (target <= 1.5; per round "
        + ", ".join(f"{r:.2f}" for r in per_round_j)
        + ")"
    )
    print(
        f"load .parquet / read_table:  {pq:.2f}x (target <= 2; per round "
        + ", ".join(f"{r:.2f}" for r in per_round_p)
        + ")"
    )
    cpu = {m: min(r["cpu"] for r in runs[m]) for m in MEASURES}
    print(
        f"CPU time ratios (least of each): load .jsonl.gz / floor {cpu['load_jsonl'] / cpu['floor']:.2f}x, "
        f"load .parquet / read_table {cpu['load_parquet'] / cpu['read_parquet']:.2f}x"
    )


if __name__ == "__main__":
    main()
