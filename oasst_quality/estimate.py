"""The one result type for a number with its interval, shared by every analysis.

A function that returns a single number returns a float, or raises
:class:`~oasst_quality.errors.NotComputableError` when the data cannot give it (never NaN); one
that returns a number with its uncertainty returns an :class:`Estimate`; one that returns a table
says per row whether it could compute it, in ``computable`` and ``reason`` columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A statistic, its ``confidence`` interval (``low``, ``high``), the ``n`` units it rests on
    (items, messages, contributors, comparisons: ``details`` says which where it matters) and the
    ``method`` that made the interval. ``details`` holds what else the method reports (for a
    bootstrap: ``n_resamples``, the resamples where the statistic was defined). Where the data
    cannot give an interval (one unit to resample), ``low`` and ``high`` are None and
    ``details['no_interval']`` says why: never an interval of zero width."""

    estimate: float
    low: float | None
    high: float | None
    confidence: float
    n: int
    method: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Flat and JSON-ready: the fields, then the details."""
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "n": self.n,
            "method": self.method,
            **self.details,
        }


def interval_text(
    e: Mapping[str, Any] | Estimate,
    fmt: str = ".4f",
    form: str = "[{low}, {high}]",
    *,
    show: Callable[[Any], str] | None = None,
    missing: str = "no interval: {reason}",
) -> str:
    """An estimate's interval (an :class:`Estimate` or its ``to_dict``) as ``form`` with both ends in
    format ``fmt`` (or written by ``show``), or ``missing`` ("no interval: REASON") where the data
    gave none."""
    d = e.to_dict() if isinstance(e, Estimate) else e
    if d.get("low") is None or d.get("high") is None:
        return missing.format(reason=d.get("no_interval") or "not computable")
    show = show or (lambda v: format(v, fmt))
    return form.format(low=show(d["low"]), high=show(d["high"]))


def no_interval_field(e: Estimate | None, name: str) -> dict[str, str]:
    """For a table row that copies ``e`` into ``NAME``, ``NAME_low`` and ``NAME_high``: its
    ``NAME_no_interval`` entry, why ``e`` has no interval, where it has none and says why; else no
    entry, so that rows (and tables) with an interval keep their columns."""
    reason = None if e is None or e.low is not None else e.details.get("no_interval")
    return {f"{name}_no_interval": reason} if reason else {}
