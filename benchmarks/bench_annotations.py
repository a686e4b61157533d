"""Per-annotator report cost: the report with 4 annotators' votes and rankings per item, against the report without.

A synthetic export (:mod:`synthetic`) of N messages gets a long votes table (each labelled
message: 4 annotators out of 200 on its spam, quality and helpfulness labels; Likert votes the
published mean plus N(0, 0.15) noise on the grid, flag votes 1 with the published yes share;
``rand-*`` answer at random, ``zero-*`` answer 0) and a long rankings table (each ranked reply
set: 4 rankers out of 100, the export's order with one adjacent pair swapped 5% of the time;
``rev-*`` reverse it). The command
``oasst-quality report EXPORT`` runs in process with and without ``--annotations VOTES --rankings
RANKINGS`` at each size, every command once per round (a busy machine slows them alike); the
ratio of the best times with / without is the per-annotator cost (each round's ratio is printed
too; wall time, and CPU time, steadier on a shared machine: the process's own, every thread, and
the child process the report forks for the per-annotator section), and the growth of the
increment (wall) from the smaller to the larger size shows whether that cost is linear in the data.
The inputs are written once into benchmarks/out/, and the reports there.

    python benchmarks/bench_annotations.py [--sizes 50000,100000] [--rounds 2] [--parts] [--overlap] [--memory]

The growth of the increment is printed in wall and CPU seconds; with three sizes or more, also the
exponent b of a least-squares fit of increment ~ size^b (1: linear).
``--parts`` then times each step the inputs add (reading, attaching, each per-annotator statistic,
the verdicts, the curation rows) at each size, one after the other in the same process (CPU seconds;
the steps ``summarize`` runs with BLAS on one thread run so here), and then ``per_annotator.summarize``
whole, as the report runs it (the votes' ids coded once for the agreement, the models and the
verdicts, and the verdicts reusing the models' Dawid-Skene fits); the sizes in turn, ``--rounds``
times, the least of each printed, with each label's Dawid-Skene iterations.
``--overlap`` then runs ``per_annotator.summarize`` at each size with its ranking checks in their
thread and in line, alternately, ``--rounds`` times each: wall, process CPU and the main thread's CPU.
``--memory`` then builds the report with the inputs at each size in a fresh process, its annotator
section in a forked child and in line (``InMemory(fork=False)``), and prints the peak of the
process's and its child's proportional set sizes summed (Linux's PSS: a page the two share counted
half to each), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
from _timing import _timed, cpu  # noqa: E402

import oasst_quality as oq  # noqa: E402
from oasst_quality import adapter  # noqa: E402
from oasst_quality.cli import main as cli  # noqa: E402
from oasst_quality.schema import LIKERT_GRID, label_kind  # noqa: E402

PER_ITEM = 4
LABELS = ("spam", "quality", "helpfulness")  # a flag and two Likert labels, as in one OASST labelling task
LABELLERS = [f"lab-{i}" for i in range(196)] + ["rand-1", "rand-2", "zero-1", "zero-2"]
RANKERS = [f"rank-{i}" for i in range(98)] + ["rev-1", "rev-2"]


def _distinct(rng: np.random.Generator, n: int, pool: int) -> np.ndarray:
    """(n, PER_ITEM) indices into a pool, distinct within each row."""
    return (rng.integers(0, pool, size=n)[:, None] + np.arange(PER_ITEM)) % pool


def votes(ds: oq.Dataset, seed: int = 0) -> pd.DataFrame:
    """``item, annotator, label, value``: PER_ITEM annotators on each of LABELS of every message that has it."""
    rng = np.random.default_rng(seed)
    labels = ds.labels.loc[ds.labels["label"].isin(LABELS), ["message_id", "label", "value"]]
    items, msg = np.unique(labels["message_id"].to_numpy(), return_inverse=True)
    who = _distinct(rng, len(items), len(LABELLERS))[msg]  # one task per message: the same annotators on its labels
    n = len(labels)
    mean = np.repeat(labels["value"].to_numpy(float), PER_ITEM)
    flag = np.repeat(labels["label"].map(lambda x: label_kind(x) == "flag").to_numpy(bool), PER_ITEM)
    noisy = mean + rng.normal(0, 0.15, n * PER_ITEM)
    likert = LIKERT_GRID[np.abs(LIKERT_GRID[None, :] - noisy[:, None]).argmin(axis=1)]
    value = np.where(flag, (rng.random(n * PER_ITEM) < mean).astype(float), likert)
    names = np.asarray(LABELLERS, dtype=object)[who.ravel()]
    random = np.char.startswith(names.astype(str), "rand-")
    value[random] = np.where(
        flag[random], rng.integers(0, 2, random.sum()), rng.choice(LIKERT_GRID, random.sum())
    ).astype(float)
    value[np.char.startswith(names.astype(str), "zero-")] = 0.0
    return pd.DataFrame(
        {
            "item": np.repeat(labels["message_id"].to_numpy(), PER_ITEM),
            "annotator": names,
            "label": np.repeat(labels["label"].to_numpy(), PER_ITEM),
            "value": value,
        }
    )


def rankings(ds: oq.Dataset, seed: int = 0, swap: float = 0.05) -> pd.DataFrame:
    """``group, annotator, ranking`` (``a>b>c``): PER_ITEM rankers on every ranked reply set."""
    rng = np.random.default_rng(seed)
    merged = adapter.rankings(ds)
    orders = [list(r) for r in merged["ranking"] for _ in range(PER_ITEM)]
    who = np.asarray(RANKERS, dtype=object)[_distinct(rng, len(merged), len(RANKERS)).ravel()]
    draws, at = rng.random(len(orders)), rng.random(len(orders))
    for k, order in enumerate(orders):  # test data: one small list per ranking
        if who[k].startswith("rev-"):
            order.reverse()
        elif draws[k] < swap and len(order) > 1:
            i = int(at[k] * (len(order) - 1))
            order[i], order[i + 1] = order[i + 1], order[i]
    return pd.DataFrame(
        {"group": np.repeat(merged["group"].to_numpy(), PER_ITEM), "annotator": who, "ranking": map(">".join, orders)}
    )


def inputs(n_messages: int, folder: Path) -> tuple[Path, Path, Path]:
    """(export, votes.csv, rankings.csv) of ``n_messages`` messages, written once into ``folder``."""
    n_trees = round(n_messages * synthetic.N_TREES / synthetic.N_MESSAGES)
    export = folder / f"synthetic_{n_messages}_{n_trees}.jsonl"
    votes_csv, rankings_csv = folder / f"votes_{n_messages}.csv", folder / f"rankings_{n_messages}.csv"
    if not export.exists():
        synthetic.write(export, synthetic.generate(n_messages, n_trees))
    if not (votes_csv.exists() and rankings_csv.exists()):
        ds = oq.load(export)
        votes(ds).to_csv(votes_csv, index=False)
        rankings(ds).to_csv(rankings_csv, index=False)
    return export, votes_csv, rankings_csv


def parts(export: Path, votes_csv: Path, rankings_csv: Path) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds of each step the per-annotator inputs add to the report, timed one after the other
    (the steps ``per_annotator.summarize`` runs with BLAS on one thread run so here too), and the
    iterations of each label's Dawid-Skene fit."""
    from oasst_quality import annotations as an
    from oasst_quality import consensus as cs
    from oasst_quality import flags
    from oasst_quality import per_annotator as pa
    from oasst_quality._util import one_blas_thread
    from oasst_quality.verdicts import annotators as va

    def as_summarize(step):
        def run():
            with one_blas_thread():
                return step()

        return run

    ds, found, out = oq.load(export), {}, {}
    steps = {
        "read (annotations.read, both files)": lambda: found.update(v=an.read(votes_csv), r=an.read(rankings_csv)),
        "attach (with_annotations)": lambda: found.update(ds=ds.with_annotations(found["v"] | found["r"])),
        "code each label's votes": lambda: found.update(per=pa._per_label(found["ds"].annotations.votes, None)),
        "alpha and kappas per label": as_summarize(lambda: pa._agreement(found["per"], 1000, 0)),
        "Dawid-Skene, MACE, ordinal fits": as_summarize(lambda: found.update(fits=pa._models(found["per"])[1])),
        "ranked-pairs consensus": lambda: cs.consensus_ranks(found["ds"].annotations.rankings),
        "rankers' pairwise agreement (both ties)": lambda: cs.pairwise_agreements(found["ds"].annotations.rankings),
        "ranker verdicts (in ranking_checks)": lambda: va.ranking_verdicts(found["ds"].annotations.rankings),
        "suspect-annotator verdicts (summary)": as_summarize(
            lambda: found.update(s=va.summary(found["ds"].annotations.votes, found["ds"].annotations.rankings))
        ),
        "curation-table rows (flags)": lambda: flags._annotations(
            found["ds"].annotations, adapter.rankings(ds), {"suspects": found["s"]["suspects"]}
        ),
        "summarize whole (as the report runs it)": lambda: pa.summarize(
            found["ds"].annotations, export_rankings=adapter.rankings(ds)
        ),
    }
    for name, step in steps.items():
        out[name] = _clocked(step)[1]
    return out, {label: fit.n_iter_ for label, (fit, _) in found["fits"].items()}


def overlap(export: Path, votes_csv: Path, rankings_csv: Path, rounds: int) -> None:
    """Print ``summarize``'s wall, process CPU and main-thread CPU, its ranking checks in their thread and in line."""

    from oasst_quality import annotations as an
    from oasst_quality import per_annotator as pa

    ds = oq.load(export).with_annotations(an.read(votes_csv) | an.read(rankings_csv))
    export_rankings, threaded = adapter.rankings(ds), pa.InThread

    class InLine:  # InThread's stand-in: fn run at once, in the calling thread
        def __init__(self, fn, name=None):
            self.value = fn()

        def result(self):
            return self.value

    try:
        for _ in range(rounds):
            for name, start in (("thread", threaded), ("in line", InLine)):
                pa.InThread, main_cpu = start, time.thread_time()
                wall, used = _clocked(lambda: pa.summarize(ds.annotations, export_rankings=export_rankings))
                main_cpu = time.thread_time() - main_cpu
                print(f"  {name:8s} wall {wall:.2f} s, CPU {used:.2f} s, main thread {main_cpu:.2f} s")
    finally:
        pa.InThread = threaded


_BUILD = """
import sys
import oasst_quality as oq
from oasst_quality import annotations as an, report
from oasst_quality.engine import InMemory
export, votes, rankings, out, fork = sys.argv[1:]
ds = oq.load(export).with_annotations(an.read(votes) | an.read(rankings))
report.build(InMemory(ds, fork=fork == "1"), out, quiet=True)
"""


def _pss_mb(pid: int) -> float:
    """A process's proportional set size in MB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as lines:
            return next(int(line.split()[1]) for line in lines if line.startswith("Pss:")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def peak_pss(export: Path, votes_csv: Path, rankings_csv: Path, fork: bool) -> float:
    """Peak MB of a fresh process building the report with the inputs, its child's PSS added."""
    import subprocess

    out = export.parent / f"report_memory_{int(fork)}"
    args = [sys.executable, "-c", _BUILD, str(export), str(votes_csv), str(rankings_csv), str(out), str(int(fork))]
    proc, peak = subprocess.Popen(args), 0.0
    while proc.poll() is None:
        peak = max(peak, _pss_mb(proc.pid) + sum(map(_pss_mb, _children(proc.pid))))
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"the memory run exited with {proc.returncode}")
    return peak


def _clocked(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, every thread) of one call; the garbage collection
    that :func:`_timed` runs before it is not charged to it (on a loaded dataset, about 0.2 s a call)."""
    gc.collect()
    start = cpu()
    wall = _timed(fn)[0]
    return wall, cpu() - start


def _run(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # the command's "wrote ..." line
        status = cli(argv)
    if status:
        raise SystemExit(f"oasst-quality {' '.join(argv)} exited with {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,100000", help="message counts, comma-separated")
    parser.add_argument("--parts", action="store_true", help="also time each step the inputs add, at each size")
    parser.add_argument(
        "--overlap", action="store_true", help="also time summarize with its ranking checks in a thread and in line"
    )
    parser.add_argument(
        "--memory", action="store_true", help="also measure the peak memory, annotator section forked and in line"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs of every command (each size, with and without the inputs)"
    )
    a = parser.parse_args()
    folder = HERE / "out"
    folder.mkdir(exist_ok=True)
    sizes = [int(n) for n in a.sizes.split(",")]
    commands = {}
    for n in sizes:
        export, votes_csv, rankings_csv = inputs(n, folder)
        plain = ["report", str(export), "--out", str(folder / f"report_{n}"), "--quiet"]
        commands[n] = (plain, [*plain, "--annotations", str(votes_csv), "--rankings", str(rankings_csv)])
        n_votes, n_rankings = (sum(1 for _ in open(f)) - 1 for f in (votes_csv, rankings_csv))
        print(f"{n:>7,} messages: {n_votes:,} votes, {n_rankings:,} rankings", flush=True)
    clocks = {(n, side): [] for n in sizes for side in (0, 1)}
    for _ in range(a.rounds):  # every size and side once per round: a busy machine slows them alike
        for n in sizes:
            for side in (0, 1):
                clocks[n, side].append(_clocked(functools.partial(_run, commands[n][side])))
    for clock, k in (("wall", 0), ("CPU", 1)):
        for n in sizes:
            got = {side: [c[k] for c in clocks[n, side]] for side in (0, 1)}
            rounds = ", ".join(f"{f / p:.2f}" for p, f in zip(got[0], got[1]))
            plain, full = min(got[0]), min(got[1])
            print(
                f"{n:>7,} messages ({clock}): report {plain:.1f} s, with the per-annotator inputs {full:.1f} s: "
                f"{full / plain:.2f}x (per round: {rounds})"
            )
    if a.parts:  # the sizes in turn, --rounds times: the least CPU seconds of each step at each size
        steps, iterations = {}, {}
        for _ in range(a.rounds):
            for n in sizes:
                got, iterations[n] = parts(*inputs(n, folder))
                steps[n] = {k: min(v, steps.get(n, {}).get(k, np.inf)) for k, v in got.items()}
        print(f"CPU seconds per step (least of {a.rounds} rounds): " + " | ".join(f"{n:,}" for n in sizes))
        for name in steps[sizes[0]]:
            grow = f"  ({steps[sizes[-1]][name] / steps[sizes[0]][name]:.2f}x)" if len(sizes) > 1 else ""
            print(f"  {name:40s} " + " | ".join(f"{steps[n][name]:6.2f}" for n in sizes) + grow)
        for label in iterations[sizes[0]]:
            its = " | ".join(str(iterations[n].get(label, "-")) for n in sizes)
            print(f"  Dawid-Skene iterations, {label}: {its}")
    if a.memory:
        for n in sizes:
            forked, in_line = (peak_pss(*inputs(n, folder), fork) for fork in (True, False))
            print(f"{n:>7,} messages, peak PSS (process and child): forked {forked:,.0f} MB, in line {in_line:,.0f} MB")
    if a.overlap:
        for n in sizes:
            print(f"summarize, {n:,} messages:")
            overlap(*inputs(n, folder), a.rounds)
    if len(sizes) > 1:
        n0, n1 = sizes[0], sizes[-1]
        for clock, k in (("wall", 0), ("CPU", 1)):
            least = {key: min(c[k] for c in got) for key, got in clocks.items()}
            increment = np.array([least[n, 1] - least[n, 0] for n in sizes])
            grow = increment[-1] / increment[0]
            line = (
                f"{n1 / n0:.1f}x the messages ({clock}): the report without them {least[n1, 0] / least[n0, 0]:.2f}x, "
                f"with them {least[n1, 1] / least[n0, 1]:.2f}x, the per-annotator increment {grow:.2f}x"
            )
            if len(sizes) > 2 and (increment > 0).all():  # the increment ~ size^b: b = 1 is linear
                b = np.polyfit(np.log(sizes), np.log(increment), 1)[0]
                line += f"; increment ~ size^{b:.2f} over {len(sizes)} sizes"
            print(line)


if __name__ == "__main__":
    main()
