"""Small helpers shared by several modules."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small containers.

    Loading a full export allocates dicts and lists far faster than they die; each automatic
    collection then walks all of them, which made loading 3-5x slower. Reference counting still
    frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def jsonable(obj: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf/NA to None, frames to records, sets to lists."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return obj


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """Equal-tailed percentile interval of the finite bootstrap samples: (low, high, how many were finite)."""
    ok = np.asarray(samples, dtype=float)
    ok = ok[np.isfinite(ok)]  # a resample can leave a statistic undefined
    if not ok.size:
        return float("nan"), float("nan"), 0
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ok, [tail, 100 - tail])
    return float(low), float(high), int(ok.size)


def require_columns(df: pd.DataFrame, item: str, annotator: str, value: str) -> None:
    """Raise a ValueError that names the missing columns and how to map them."""
    missing = [c for c in (item, annotator, value) if c not in df.columns]
    if missing:
        raise ValueError(
            f"columns {missing} not in the DataFrame (have {list(df.columns)}); "
            "name them with item=, annotator=, value="
        )
