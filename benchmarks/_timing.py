"""Shared timing and measuring helpers for the benchmark scripts."""

from __future__ import annotations

import gc
import resource
import time
from pathlib import Path


def best(fn, repeat: int = 3):
    """(fastest wall time over ``repeat`` runs, the last result)."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _timed(fn):
    """(wall time, result) of one call, with the garbage collector run before it and off during it,
    as ``timeit`` does: a collection that the other side's (or the setup's) objects trigger is not
    charged to whichever call happens to be running."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    finally:
        gc.enable()


def interleaved(ours, anchor, rounds: int = 5):
    """Time ``ours`` and ``anchor`` alternately, ``rounds`` times each (one run of each per round, so
    a busy machine slows both alike). Returns (per-round ratios anchor / ours, ours' times, the
    anchor's times, the last results of ours and of the anchor)."""
    t_ours, t_anchor, out_ours, out_anchor = [], [], None, None
    for _ in range(rounds):
        t, out_ours = _timed(ours)
        t_ours.append(t)
        t, out_anchor = _timed(anchor)
        t_anchor.append(t)
    ratios = [a / o for a, o in zip(t_anchor, t_ours)]
    return ratios, t_ours, t_anchor, out_ours, out_anchor


def cpu() -> float:
    """CPU seconds of this process (every thread) and of the child processes it has waited for,
    which a busy machine inflates far less than wall time."""
    usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def peak_mb() -> float:
    """This process's peak resident memory in MB: Linux's VmHWM (ru_maxrss would also count what the
    parent held when it forked this child), else ru_maxrss."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
