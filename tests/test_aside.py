"""Work run beside the caller (oasst_quality._aside): a forked child's value, and what happens when the child fails."""

import gc
import os
import signal
import time

import pytest

from oasst_quality._aside import InChild, InThread, can_fork

forks = pytest.mark.skipif(not can_fork(), reason="forks only on Linux with a second CPU")


@forks
def test_the_value_comes_from_a_child_process():
    parent = os.getpid()
    assert InChild(lambda: (os.getpid(), [1.5, "x"])).result()[1] == [1.5, "x"]
    assert InChild(os.getpid).result() != parent


def _dies_in_the_child(parent: int):
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return "computed here"


@forks
def test_a_child_that_dies_is_replaced_by_the_computation_here():
    assert InChild(lambda: _dies_in_the_child(os.getpid())).result() == "computed here"


@forks
def test_an_error_in_the_child_is_raised_here_as_in_line():
    def fails():
        raise KeyError("no such label")

    with pytest.raises(KeyError, match="no such label"):
        InChild(fails).result()


@forks
def test_a_value_that_does_not_pickle_is_computed_here():
    parent = os.getpid()
    value = InChild(lambda: (os.getpid(), lambda: 1)).result()  # a lambda does not pickle
    assert value[0] == parent and value[1]() == 1


@forks
def test_a_child_nobody_waits_for_is_stopped_when_its_handle_goes():
    job = InChild(lambda: time.sleep(60))
    child = job._child
    assert child.is_alive()
    del job
    gc.collect()
    child.join(5)
    assert not child.is_alive()


def test_a_thread_hands_back_its_value_and_its_exception():
    assert InThread(lambda: {"a": 1}).result() == {"a": 1}
    interrupt = KeyboardInterrupt("stop")

    def interrupted():
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as got:
        InThread(interrupted).result()
    assert got.value is interrupt


@forks
def test_a_report_whose_annotator_section_runs_in_a_child_equals_the_one_in_line():
    import sys
    from pathlib import Path

    import oasst_quality as oq
    from oasst_quality import annotations as an
    from oasst_quality import report
    from oasst_quality.engine import InMemory

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import planted_export

    ds = oq.load_sample()
    ds = ds.with_annotations(an.from_backend(*planted_export.generate(ds, swap=0.0)))
    forked, figures = report.compute(InMemory(ds), n_resamples=30, quiet=True, tables=(held := {}))
    in_line, same = report.compute(InMemory(ds, fork=False), n_resamples=30, quiet=True, tables=(again := {}))
    assert forked["annotators"]["suspects"] and forked == in_line and figures == same
    assert held["flags"].equals(again["flags"]) and (held["flags"]["kind"] == "suspect_annotator").any()


def test_a_report_without_annotations_forks_nothing():
    import oasst_quality as oq
    from oasst_quality import report
    from oasst_quality.engine import InMemory

    engine = InMemory(oq.load_sample())
    engine.aside = lambda fn: pytest.fail("nothing to finalize aside, yet it was started")
    metrics, _ = report.compute(engine, n_resamples=10, quiet=True)
    assert "annotators" not in metrics


def test_no_fork_without_memory_for_a_second_copy(monkeypatch):
    from oasst_quality import _aside

    monkeypatch.setattr(_aside, "_kib", lambda path, key: 1000 if key == "MemAvailable:" else 2000)
    assert not _aside.can_fork()
    monkeypatch.setattr(_aside, "_kib", lambda path, key: 3000 if key == "MemAvailable:" else 2000)
    assert _aside.can_fork() == (_aside.sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1)
