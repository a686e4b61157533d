"""Load's parts on their own: package import, ``forest.structure`` and the label check, CPU seconds.

Run it with ``PYTHONPATH`` on two checkouts (before, after) for the parts that ``bench_load.py``'s
whole-load ratios are too noisy to show on a busy machine. Each part is the least CPU time of
``--rounds`` repeats (the garbage collector paused, as ``load`` pauses it), on the OASST2-size
synthetic export that ``bench_load.py`` writes.

    PYTHONPATH=CHECKOUT python benchmarks/bench_load_parts.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _least(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        c0 = time.process_time()
        fn()
        times.append(time.process_time() - c0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    code = (
        "import sys, time; c = time.process_time(); import oasst_quality; "
        "print(time.process_time() - c, 'networkx' in sys.modules)"
    )
    imports = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(args.rounds)
    ]
    print(f"import oasst_quality: {min(float(t) for t, _ in imports):.3f} s CPU; networkx imported: {imports[0][1]}")

    import orjson

    import oasst_quality as oq
    from oasst_quality import forest
    from oasst_quality.io import bulk

    sys.path.insert(0, str(HERE))
    from bench_load import inputs

    gz, _ = inputs(135_000, 55_600)
    messages = oq.load(gz).messages
    with gzip.open(gz, "rb") as fh:
        values = [orjson.loads(line) for line in fh]
    labels = [[v.get("labels") for v in values[i : i + bulk.SIZE]] for i in range(0, len(values), bulk.SIZE)]
    gc.disable()
    print(f"forest.structure: {_least(lambda: forest.structure(messages), args.rounds):.3f} s CPU")
    checked = _least(lambda: [bulk.labels_part(col, set()) for col in labels], args.rounds)
    print(f"bulk.labels_part, every batch: {checked:.3f} s CPU")


if __name__ == "__main__":
    main()
