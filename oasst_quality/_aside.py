"""Work run beside the caller, in a forked child process or a thread, giving the value or error it gives in line."""

from __future__ import annotations

import os
import pickle
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any


def can_fork() -> bool:
    """Whether :class:`InChild` may fork: on Linux (where ``fork`` is the platform's own way and safe
    for numpy, unlike macOS's frameworks), with a second CPU to run the child on, and memory available
    for as much again as this process holds (a child shares its parent's pages until either writes to
    them, and computes beside it: the two together need more than one computing after the other)."""
    if sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2:
        return False
    return _kib("/proc/meminfo", "MemAvailable:") >= _kib("/proc/self/status", "VmRSS:")


def _kib(path: str, key: str) -> int:
    """A ``key: N kB`` line's N from a /proc file (0 where it has none)."""
    with open(path) as lines:
        return next((int(line.split()[1]) for line in lines if line.startswith(key)), 0)


class InChild:
    """``fn()`` computed in a forked child process (:func:`in_child`); :meth:`result` waits for its value.

    The child starts with this process's memory (copy-on-write: nothing is copied or pickled on the
    way in) and sends its value back pickled. Should the child fail in any way (an error, a signal, a
    value that does not pickle), :meth:`result` calls ``fn()`` here instead, so its error, if any, is
    raised here as in line, with its traceback. A child whose result is never asked for is stopped
    when this object is collected.
    """

    def __init__(self, fn: Callable[[], Any]) -> None:
        import multiprocessing

        fork = multiprocessing.get_context("fork")
        self._fn = fn
        self._receive, send = fork.Pipe(duplex=False)
        # daemonic: an interpreter that exits (an error, an interrupt) stops it rather than waiting for it
        self._child = fork.Process(target=_send_value, args=(fn, send), name="oasst-quality aside", daemon=True)
        self._child.start()
        send.close()  # the child's end: with it closed here, a child that dies gives EOFError, not a hang
        self._stop = weakref.finalize(self, _stop, self._child, self._receive)

    def result(self) -> Any:
        """The child's value; ``fn()`` computed here if the child gave none."""
        try:
            data = self._receive.recv_bytes()
        except EOFError:  # the child died before sending (a signal, out of memory)
            data = b""
        self._stop()
        fn, self._fn = self._fn, None  # what fn holds is let go of once the value is here
        return pickle.loads(data) if data else fn()


def _send_value(fn: Callable[[], Any], send) -> None:
    """In the child: ``fn()`` pickled down the pipe, or an empty message if anything fails (the parent then
    computes it itself, and raises its error there)."""
    try:
        data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # an interrupt too: the parent decides
        data = b""
    send.send_bytes(data)


def _stop(child, receive) -> None:
    receive.close()
    if child.is_alive():
        child.kill()
    child.join()


class InThread:
    """``fn()`` computed in a daemon thread (:func:`in_thread`); :meth:`result` waits for it and gives
    its value or raises its exception (the same object). A daemon thread: an interrupted run exits
    without waiting for it."""

    def __init__(self, fn: Callable[[], Any], name: str = "oasst-quality aside") -> None:
        self._got: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._got["value"] = fn()
        except BaseException as exc:  # handed to the caller, which raises it
            self._got["error"] = exc

    def result(self) -> Any:
        """``fn()``'s value, or its exception raised."""
        self._thread.join()
        if "error" in self._got:
            raise self._got["error"]
        return self._got["value"]
