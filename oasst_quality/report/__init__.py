"""One HTML report (plots embedded, no scripts) and one metrics.json for a whole dataset.

:func:`compute` runs every section of :mod:`oasst_quality.report.sections` on an engine
(:mod:`oasst_quality.engine`: in memory, or Dask) into one metrics dictionary, with the prose of
:mod:`oasst_quality.report.prose`; :func:`build` renders the HTML from that dictionary alone (so
every number on the page is in metrics.json) by a Jinja2 template with autoescaping, so text from
the dataset shows as text and runs nothing, and writes the curation table beside it
(:func:`oasst_quality.flags.flag_files`).
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .. import __version__, partials, published
from .._util import check_output_folder, jsonable, replace_into
from ..dataset import Dataset
from ..engine import Done, Engine, InMemory
from ..errors import FormatError
from ..flags import FLAG_COLUMNS, write_part
from .sections import (
    SECTIONS,
    Context,
    finalize,
    finalize_apart,
    findings,
    first_pass,
    merge,
    section_merge,
    section_partial,
    shown,
    summaries,
    with_texts,
)

SCHEMA_VERSION = 1

#: The section the second pass reads (the curation table lists its suspects' messages): waited for before it.
_FLAGS_READ = "annotators"


def compute(
    dataset: Dataset | Engine,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    quiet: bool = False,
    noise_study=None,
    tables: dict | None = None,
    pairs=None,
    flags_dir: str | Path | None = None,
) -> tuple[dict, dict]:
    """All metrics (a JSON-ready dict) and the figures (name -> PNG data URI).

    ``dataset``: a :class:`~oasst_quality.dataset.Dataset`, or an engine holding one in partitions
    (:func:`oasst_quality.scale.partition` on a Dask cluster): the same partial statistics, merged
    (:mod:`oasst_quality.partials`), give the same numbers.
    ``noise_study``: a :class:`~oasst_quality.reward.NoiseStudyResult` to add as a section.
    ``tables``: a dict that receives the full tables behind the page (``"flags"``: the curation table).
    ``pairs``: a :class:`~oasst_quality.verdicts.pairs.PairVerdicts` to add as the preference-pairs
    section (its suspects join the curation table as ``suspect_preference`` rows).
    ``flags_dir``: a folder the engine's workers write, where each partition writes its part of the
    curation table (a ``flags.parquet`` dataset: :func:`oasst_quality.flags.write_part`) instead of
    sending it to ``tables``, and the preference pairs' rows go as one more part; the report counts them.
    """
    engine = InMemory(dataset) if isinstance(dataset, Dataset) else dataset
    where = None if flags_dir is None else str(flags_dir)
    ctx = Context(
        engine.source,
        n_resamples,
        seed,
        tables={} if tables is None else tables,
        noise_study=noise_study,
        pairs=pairs,
        flags_dir=where,
        n_parts=1 if flags_dir is None else len(engine),
    )
    progress = tqdm(total=len(SECTIONS) + 2, desc="report", disable=quiet, unit="step")
    # sections with a long finalization (the per-annotator summaries) start first, beside everything
    # else (engine.aside: a forked process in memory, a client thread on a cluster)
    aside: dict[str, Any] = {}
    for s in SECTIONS:
        if s.aside:
            held = engine.map_reduce(section_partial, s.name, merge=functools.partial(section_merge, s.name))
            job = functools.partial(finalize, s, held, ctx)
            aside[s.name] = engine.aside(job) if held is not None else Done(job())  # nothing to finalize: no fork
    # sections whose statistics never reach the client: merged and finalized on a worker
    apart = {
        s.name: engine.submit(
            section_partial,
            s.name,
            merge=functools.partial(section_merge, s.name),
            finish=functools.partial(finalize_apart, s.name, engine.source, n_resamples, seed),
        )
        for s in SECTIONS
        if s.apart
    }
    stats = engine.map_reduce(first_pass, merge=merge)
    progress.update()
    read = stats["structure"]
    if not isinstance(read, partials.Failed) and read["records_read"] and not read["records_loaded"]:
        where = ", ".join(engine.source) if isinstance(engine.source, list) else engine.source
        raise FormatError("no record could be read (run `oasst-quality validate` on it to see why)", path=where)
    patterns = stats["aggregation"]
    failed = isinstance(patterns, partials.Failed)
    ctx.fits = patterns if failed else partials.guarded(lambda: published.label_fits(patterns))
    if isinstance(ctx.fits, partials.Failed):
        stats["aggregation"] = ctx.fits
    # each section's merged statistics are let go of as it is finalized
    results: dict[str, Any] = {}
    for section in SECTIONS:
        if section.name in stats:
            results[section.name] = finalize(section, stats.pop(section.name), ctx)
            progress.update()
    found: dict[str, pd.DataFrame] = {}
    for name, job in apart.items():
        results[name], figures, more = job.result()
        ctx.figures |= figures
        found |= more
        progress.update()
    for name, job in aside.items():
        results[name] = job.result()
        progress.update()
    suspects = results[_FLAGS_READ]
    usable = suspects if suspects and suspects.get("computable", True) is not False else None
    fits = None if isinstance(ctx.fits, partials.Failed) else ctx.fits
    second = engine.submit(partials.second_pass, fits, usable, where, numbered=True).result()
    progress.update()
    tox, gaps = results["toxicity"], found.get("toxicity_gaps")
    if tox.get("available") and isinstance(gaps, pd.DataFrame):
        texts = engine.map_reduce(partials.texts, gaps["message_id"].tolist())
        tox["disagreements"] = with_texts(gaps, pd.concat(texts, ignore_index=True))
    for section in SECTIONS:
        if section.partial is None:
            results[section.name] = finalize(section, second.get(section.name), ctx)
            progress.update()
    progress.close()
    metrics: dict[str, Any] = {
        "meta": {
            "schema_version": SCHEMA_VERSION,
            "oasst_quality": __version__,
            "n_resamples": n_resamples,
            "seed": seed,
            "source": shown(engine.source),
        }
    }
    metrics |= {s.name: results[s.name] for s in SECTIONS if results[s.name] is not None}
    metrics = jsonable(metrics)
    metrics["summary"] = summaries(metrics)
    metrics["findings"] = findings(metrics)
    return metrics, ctx.figures


def build(
    dataset: Dataset | Engine,
    out_dir: str | Path = "report",
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    quiet: bool = False,
    noise_study=None,
    pairs=None,
) -> Path:
    """Write ``index.html``, ``metrics.json`` and the curation table (``flags.parquet``, ``flags.csv``)
    for ``dataset`` into ``out_dir``; return the HTML path.

    ``noise_study`` (a :class:`~oasst_quality.reward.NoiseStudyResult`) adds the noise-study section;
    ``pairs`` (a :class:`~oasst_quality.verdicts.pairs.PairVerdicts`) the preference-pairs section.
    On an engine of partitions (Dask) the partitions write the curation table themselves:
    ``flags.parquet`` is then a folder of parts (a parquet dataset), each in the table's order.
    """
    from ..flags import csv_from_parts, flag_files
    from .render import html

    out = check_output_folder(out_dir)  # before minutes of computing, not after
    settings = {"n_resamples": n_resamples, "seed": seed, "quiet": quiet, "noise_study": noise_study, "pairs": pairs}
    if isinstance(dataset, Dataset | InMemory):
        tables: dict[str, pd.DataFrame] = {}
        metrics, figures = compute(dataset, tables=tables, **settings)
        files = flag_files(tables["flags"]) if "flags" in tables else {}
        replace_into(out, files | {"metrics.json": _json(metrics), "index.html": html(metrics, figures)})
        return out / "index.html"
    # an engine of partitions: they write the curation table in parts, the client only counts it
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".oasst-quality-flags-", dir=out))
    try:
        parts = staging / "flags.parquet"
        parts.mkdir()
        metrics, figures = compute(dataset, flags_dir=parts, **settings)
        files: dict[str, Path] = {}
        if metrics["flags"].get("computable", True) is not False:  # else no table, as in memory
            if not any(parts.iterdir()):  # nothing flagged: one empty part keeps the columns
                write_part(pd.DataFrame(columns=FLAG_COLUMNS), parts, 0)
            csv_from_parts(parts, staging / "flags.csv")
            files = {name: staging / name for name in ("flags.parquet", "flags.csv")}
        replace_into(out, files | {"metrics.json": _json(metrics), "index.html": html(metrics, figures)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def _json(metrics: dict) -> str:
    return json.dumps(metrics, indent=2, allow_nan=False)
