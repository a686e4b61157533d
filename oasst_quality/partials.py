"""The report's sections as partial -> merge -> finalize, over statistics that add across partitions.

A partition is a :class:`~oasst_quality.dataset.Dataset` of whole trees, so a reply set never
splits. :func:`first_pass` reduces one partition to what the sections need: vote patterns per
label, tallies per language and contributor, counts of the trees' shapes, and the rows the
toxicity comparison reads; :func:`add` merges two partials. The sections' ``*_from_*`` functions
in the analysis modules finalize the merged statistics; global fits (the label priors, the
default-to-zero test) then go back to the partitions for :func:`second_pass`, which lists the
flagged messages. The in-memory report is the one-partition case and the Dask engine
(:mod:`oasst_quality.scale`) maps the same functions over many, so both give the same numbers:
every seeded bootstrap draws from merged statistics in a canonical order, never from a partition's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import adapter, published, skew
from . import consensus as cs
from . import toxicity as tx
from .errors import OasstQualityError

#: Sections whose statistics come from :func:`first_pass`.
FIRST_PASS = ("structure", "agreement", "aggregation", "consensus", "skew", "toxicity")
_EXAMPLES = 5  # flagged messages shown per kind in the report


@dataclass(frozen=True)
class Failed:
    """A section whose partial failed on some partition: the reason goes in the report."""

    reason: str
    error: str | None = None


def add(a: Any, b: Any) -> Any:
    """Merge two partials: numbers add, dicts merge key by key, frames indexed by a key add, lists
    and sets join; a failed section stays failed."""
    if isinstance(a, Failed):
        return a
    if isinstance(b, Failed):
        return b
    if isinstance(a, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = add(out[key], value) if key in out else value
        return out
    if isinstance(a, pd.DataFrame | pd.Series):
        return a.add(b, fill_value=0)
    if isinstance(a, set):
        return a | b
    return a + b  # numbers, lists


def guarded(step: Callable[[], Any]) -> Any:
    """A section's result, or :class:`Failed` with why: one section never stops the others."""
    try:
        return step()
    except OasstQualityError as exc:
        return Failed(str(exc))
    except Exception as exc:  # a bug on unusual data must not cost the curator the whole report
        return Failed(
            f"failed with {type(exc).__name__}: {exc} (please report this with the input's shape)", type(exc).__name__
        )


def _structure(ds) -> dict:
    summary = ds.summary()
    forest = {k: v for k, v in summary["forest"].items() if k != "max_depth"}  # from depth_counts at the end
    return {
        "form": set(summary["form"].split("+")) - {"empty"},
        "records_read": summary["records_read"],
        "records_loaded": summary["records_loaded"],
        "forest": forest,
        "problems": summary["problems"],
    }


def structure_from_partial(stats: dict) -> dict:
    """The dataset's summary (as :meth:`Dataset.summary`, without the source) from merged partials."""
    forest = {k: dict(sorted(v.items())) if isinstance(v, dict) else v for k, v in stats["forest"].items()}
    forest["max_depth"] = max(forest["depth_counts"], default=0)
    return {
        "form": "+".join(sorted(stats["form"])) or "empty",
        "records_read": stats["records_read"],
        "records_loaded": stats["records_loaded"],
        "forest": forest,
        "problems": dict(sorted(stats["problems"].items())),
    }


def first_pass(ds) -> dict:
    """One partition's statistics for every section of :data:`FIRST_PASS`."""
    labels = adapter.labels(ds)
    by_label = dict(tuple(labels.groupby("label", sort=False)))  # grouped once, shared by two sections
    steps = {
        "structure": lambda: _structure(ds),
        "agreement": lambda: published.flag_vote_patterns(labels, by_label),
        "aggregation": lambda: published.grid_patterns(labels, by_label),
        "consensus": lambda: cs.ranking_summary(ds),
        "skew": lambda: skew.tallies(ds),
        "toxicity": lambda: [tx.comparison_tables(ds)] if not adapter.scores(ds).empty else [],
    }
    return {name: guarded(step) for name, step in steps.items()}


def toxicity_tables(parts: list[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The merged (scores, human) tables of :func:`oasst_quality.toxicity.comparison_tables`."""
    return (
        pd.concat([p[0] for p in parts]).sort_index(kind="stable"),
        pd.concat([p[1] for p in parts]).sort_index(kind="stable"),
    )


def second_pass(ds, fits, text_ids: list, annotators: dict | None = None) -> dict:
    """One partition's flagged messages (with the label models ``fits`` of the whole dataset: see
    :func:`oasst_quality.published.label_fits`), text snippets for the first of each kind, and the
    texts of ``text_ids``."""
    from .flags import curation_flags

    def flags() -> dict:
        table = curation_flags(ds, annotators=annotators, fits=fits)
        text = adapter.messages(ds).set_index("item")["text"]
        top = table.groupby("kind", sort=False, observed=True).head(_EXAMPLES)
        snippets = text.reindex(top["message_id"]).fillna("").str.slice(0, 160).to_numpy()
        return {"table": [table], "examples": [top.assign(text=snippets)]}

    m = adapter.messages(ds)
    texts = m.loc[m["item"].isin(text_ids), ["item", "lang", "text"]].rename(columns={"item": "message_id"})
    return {"flags": guarded(flags), "texts": [texts]}
