"""The engines a report runs on: the :class:`Engine` protocol and the in-memory engine.

An engine holds a dataset as partitions of whole trees, each a
:class:`~oasst_quality.dataset.Dataset` with its tables (:func:`oasst_quality.adapter.tables`),
built once and kept between the passes of a report. It runs a function of one partition,
``fn(dataset, tables, *args)``, on each and merges the results (:func:`oasst_quality.partials.add`
unless told otherwise); ``finish`` then reduces the merged result where it was merged (on a worker
of a cluster), so that only what it returns reaches the caller; ``numbered=True`` also gives ``fn`` the
partition's number (``part=0, 1, ...`` in partition order), to name what a partition writes the same
on every run. ``aside`` runs a function of the caller's (a long finalization) beside it: in a forked
child process in memory, where the caller's core is the only one busy; in a thread of the client on
a cluster, where the client mostly waits. :class:`InMemory` is the one-partition case;
:class:`oasst_quality.scale.Partitioned` runs the same functions on a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._aside import InChild, can_fork
from .adapter import tables
from .partials import add

if TYPE_CHECKING:
    from .dataset import Dataset


class Pending(Protocol):
    """A merged result on its way: :meth:`result` waits for it."""

    def result(self) -> Any: ...


class Engine(Protocol):
    """Partitions of one dataset, and the means to run a function on each and merge the results."""

    #: the input as given (a path, several paths, or None), for the report's header and errors
    source: str | list[str] | None

    def __len__(self) -> int:
        """The number of partitions (read where the partitions write the curation table in parts)."""
        ...

    def map_reduce(self, fn: Callable, *args: Any, merge: Callable[[Any, Any], Any] = add) -> Any:
        """``fn(dataset, tables, *args)`` on every partition, merged by ``merge`` in partition order."""
        ...

    def submit(
        self,
        fn: Callable,
        *args: Any,
        merge: Callable[[Any, Any], Any] = add,
        finish: Callable[[Any], Any] | None = None,
        numbered: bool = False,
    ) -> Pending:
        """:meth:`map_reduce` started: the caller can work while it runs. ``finish``: applied to the
        merged result where it is merged (a worker), the caller receiving only its value.
        ``numbered``: call ``fn(dataset, tables, *args, part=i)``, ``i`` the partition's number."""
        ...

    def aside(self, fn: Callable[[], Any]) -> Pending:
        """``fn()`` started beside the caller, which goes on; ``fn`` must be pure (only its value comes back)."""
        ...


class InMemory:
    """A loaded Dataset as the one partition of a report. ``fork``: :meth:`aside` may fork a child
    process (:func:`oasst_quality._aside.can_fork`); False runs it in line."""

    def __init__(self, dataset: Dataset, *, fork: bool = True) -> None:
        self.dataset = dataset
        self.tables = tables(dataset)
        self.source = dataset.source
        self.fork = fork

    def __len__(self) -> int:
        """One partition."""
        return 1

    def map_reduce(self, fn: Callable, *args: Any, merge: Callable[[Any, Any], Any] = add) -> Any:
        """``fn(dataset, tables, *args)``: one partition, nothing to merge."""
        return fn(self.dataset, self.tables, *args)

    def submit(
        self,
        fn: Callable,
        *args: Any,
        merge: Callable[[Any, Any], Any] = add,
        finish: Callable[[Any], Any] | None = None,
        numbered: bool = False,
    ) -> Done:
        """:meth:`map_reduce` (and ``finish``), run now (one process has nothing to overlap it with);
        ``numbered``: the one partition is number 0."""
        value = fn(self.dataset, self.tables, *args, **({"part": 0} if numbered else {}))
        return Done(value if finish is None else finish(value))

    def aside(self, fn: Callable[[], Any]) -> InChild | Done:
        """``fn()`` in a forked child process, computed on a second core while this one goes on (the
        same value as in line, and its error raised here: :class:`~oasst_quality._aside.InChild`);
        in line where this process cannot fork or has one core."""
        return InChild(fn) if self.fork and can_fork() else Done(fn())


class Done:
    """A result that is already there."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        """The value."""
        return self.value
