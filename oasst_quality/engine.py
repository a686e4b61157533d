"""The engines a report runs on: the :class:`Engine` protocol and the in-memory engine.

An engine holds a dataset as partitions of whole trees, each a
:class:`~oasst_quality.dataset.Dataset` with its tables (:func:`oasst_quality.adapter.tables`),
built once and kept between the passes of a report. It runs a function of one partition,
``fn(dataset, tables, *args)``, on each and merges the results (:func:`oasst_quality.partials.add`
unless told otherwise); ``finish`` then reduces the merged result where it was merged (on a worker
of a cluster), so that only what it returns reaches the caller; ``numbered=True`` also gives ``fn`` the
partition's number (``part=0, 1, ...`` in partition order), to name what a partition writes the same
on every run. :class:`InMemory` is the one-partition case;
:class:`oasst_quality.scale.Partitioned` runs the same functions on a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

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


class InMemory:
    """A loaded Dataset as the one partition of a report."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.tables = tables(dataset)
        self.source = dataset.source

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


class Done:
    """A result that is already there."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        """The value."""
        return self.value
