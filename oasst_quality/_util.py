"""Small helpers shared by several modules."""

from __future__ import annotations

import functools
import gc
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

    from .estimate import Estimate


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


def no_interval(low: float, high: float, units: int, unit: str) -> str | None:
    """Why a percentile interval over ``units`` resampled ``unit``s (singular: "item", "tree") is
    no interval, or None when it is one: a single unit to resample (every resample is that unit
    again) or every resample giving the same value (all units alike). An interval of zero width
    would there claim a certainty the data does not have."""
    if units < 2:
        return f"one {unit}" if units == 1 else f"no {unit}"
    if not high > low:
        return f"every resample of the {units:,} {unit}s gives the same value"
    return None


def row_interval(
    samples: np.ndarray, confidence: float, units: int, unit: str = "unit"
) -> tuple[float | None, float | None, str | None]:
    """A table row's percentile interval over ``units`` resampled ``unit``s: (low, high, None), or
    (None, None, reason) where :func:`no_interval` says the data gives none."""
    low, high, used = percentile_interval(samples, confidence)
    reason = no_interval(low, high, units, unit) if used else "the statistic is undefined on every resample"
    return (None, None, reason) if reason else (low, high, None)


def bootstrap_estimate(
    estimate: float,
    samples: np.ndarray,
    confidence: float,
    n: int,
    method: str,
    details: Mapping[str, Any] | None = None,
    *,
    units: int,
    unit: str,
) -> Estimate:
    """An :class:`~oasst_quality.estimate.Estimate` with the percentile interval of the finite
    bootstrap ``samples``, which resampled ``units`` of ``unit``; without an interval (``low`` and
    ``high`` None, ``details['no_interval']`` the reason from :func:`no_interval`) where the data
    cannot give one. A :class:`~oasst_quality.errors.NotComputableError` when no resample gave a
    finite value."""
    from .errors import NotComputableError
    from .estimate import Estimate

    low, high, used = percentile_interval(samples, confidence)
    if not used:
        raise NotComputableError("the statistic is undefined on every bootstrap resample: no interval")
    info = {**(details or {}), "n_resamples": used}
    reason = no_interval(low, high, units, unit)
    if reason is None:
        return Estimate(float(estimate), low, high, confidence, n, method, info)
    return Estimate(float(estimate), None, None, confidence, n, method, info | {"no_interval": reason})


def torch_device(device: str | None) -> str:
    """The device asked for, else ``"cuda"`` when torch sees a GPU, else ``"cpu"`` (torch imported here, lazily).

    A device torch cannot use is a :class:`~oasst_quality.errors.UsageError`, before any work starts."""
    import torch

    from .errors import UsageError

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UsageError(f"device {device!r} is not one torch knows (cpu, cuda, cuda:N, mps)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r}: torch sees no GPU on this machine; use cpu")
    return device


def require_columns(df: pd.DataFrame, item: str, annotator: str, value: str) -> None:
    """Raise :class:`~oasst_quality.errors.ColumnsError` naming the missing columns."""
    from .errors import ColumnsError

    missing = [c for c in (item, annotator, value) if c not in df.columns]
    if missing:
        raise ColumnsError(missing, [str(c) for c in df.columns])


def check_output_folder(out_dir: str | Path) -> Path:
    """The output folder as a Path; a :class:`~oasst_quality.errors.UsageError` if a file has its name."""
    from .errors import UsageError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; the output needs a folder (give another --out)")
    return out


def replace_into(out_dir: str | Path, files: Mapping[str, bytes | str | Path]) -> Path:
    """Write ``files`` (name -> content, or a file or folder already written on the same file system,
    which is moved) into ``out_dir`` atomically.

    Everything is written to a temporary folder inside ``out_dir`` first, then renamed into place
    one file at a time: a reader never sees a half-written file, and a name that is a symlink is
    replaced itself, never followed to overwrite its target. A folder in the way (the
    ``flags.parquet`` dataset a Dask report writes, where an in-memory report writes one file) is
    renamed aside first and removed once its replacement is in place.
    """
    from .errors import UsageError

    out = check_output_folder(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".oasst-quality-", dir=out))
    except OSError as exc:
        raise UsageError(f"cannot write into {out}: {exc.strerror or exc}") from None
    try:
        for name, data in files.items():
            if isinstance(data, Path):
                os.replace(data, tmp / name)
            else:
                (tmp / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        for name in files:
            dst = out / name
            if dst.is_dir() and not dst.is_symlink():
                os.replace(dst, tmp / f"{name}.old")  # removed with the temporary folder
            elif (tmp / name).is_dir() and (dst.exists() or dst.is_symlink()):
                dst.unlink()  # a file cannot be renamed over by a folder
            os.replace(tmp / name, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def row_counts(keys: np.ndarray) -> dict[tuple[int, ...], int]:
    """How often each distinct row of a 2-D array of non-negative integers occurs, as {row: count}
    (the pattern tables that partitions of a dataset add up)."""
    if not len(keys):
        return {}
    first, _, freq = unique_rows(keys)
    return {tuple(int(v) for v in row): int(f) for row, f in zip(keys[first], freq)}


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of each distinct row's first occurrence, inverse, counts) of a 2-D array.

    Rows of non-negative integers become one int64 key each (mixed radix), and a 1-D sort of the
    keys is about 10x faster than ``np.unique(axis=0)`` (2 million rows of 2 columns), which compares rows;
    other arrays take that slower path. Distinct rows come out in the order of their keys.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        from .errors import UsageError

        raise UsageError("unique_rows needs a 2-D array")
    if a.size and np.issubdtype(a.dtype, np.number) and (a >= 0).all() and (a == np.round(a)).all():
        base = int(a.max()) + 1
        if base ** a.shape[1] < 2**62:
            key = np.zeros(a.shape[0], dtype=np.int64)
            for j in range(a.shape[1]):  # a few columns: the loop is over columns, never rows
                key = key * base + a[:, j].astype(np.int64)
            _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            return first, inverse.ravel(), counts
    _, first, inverse, counts = np.unique(a, axis=0, return_index=True, return_inverse=True, return_counts=True)
    return first, inverse.ravel(), counts


@functools.cache
def _blas_pools() -> ThreadpoolController:
    """The loaded BLAS libraries' thread pools, found once (scipy's own OpenBLAS, which L-BFGS-B
    uses, among them: loaded first)."""
    import scipy.optimize  # noqa: F401  (loads scipy's OpenBLAS, so that the controller finds it)
    from threadpoolctl import ThreadpoolController  # imported when first used, not with the package

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS runs on one thread: for products of tall, narrow arrays (and
    L-BFGS-B's steps on a few parameters), where waking OpenBLAS's pool costs more than the work
    (docs/annotations.md, fourth round). Results are the same:
    OpenBLAS splits a product's output among its threads, each element computed alike."""
    return _blas_pools().limit(limits=1, user_api="blas")


def run_starts(values: np.ndarray) -> np.ndarray | None:
    """Where each run of equal neighbours of an object array begins (a votes table lists an item's
    votes together), or None where its objects do not compare to a truth value (pd.NA)."""
    starts = np.empty(values.size, dtype=bool)
    starts[:1] = True
    try:
        np.not_equal(values[1:], values[:-1], out=starts[1:])
    except (TypeError, ValueError):
        return None
    return np.flatnonzero(starts)


def narrow_ints(x: np.ndarray, bound: int) -> np.ndarray:
    """Integers ``x`` in [0, ``bound``) as the narrowest of int16, int32 and int64 that holds them
    (less memory to read; numpy sorts int16 stably by counting)."""
    for t in (np.int16, np.int32):
        if bound <= np.iinfo(t).max:
            return x.astype(t)
    return x.astype(np.int64)


def normalize_class_major(lt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from class-major log-weights ``lt`` (classes x items; normalized in place and
    returned: each column sums to one) and each item's log normalizer. Class-major because numpy
    reduces a short inner axis 10-30x slower."""
    top = lt.max(axis=0)
    lt -= top
    np.exp(lt, out=lt)
    total = lt.sum(axis=0)
    lt /= total
    top += np.log(total)
    return lt, top
