"""The report's statistics as partial -> merge -> finalize: each section's partial over one partition.

A partition is a :class:`~oasst_quality.dataset.Dataset` of whole trees, so a reply set never
splits, with its tables (:func:`oasst_quality.adapter.tables`, built once per partition by the engine).
The ``*_partial`` functions reduce one partition to what a section needs (vote patterns per label,
tallies per language and contributor, counts of the trees' shapes, the rows the toxicity comparison
reads); :func:`add` merges two partials. The sections' ``*_from_*`` functions in the analysis
modules finalize the merged statistics; global fits (the label priors, the default-to-zero test)
then go back to the partitions for :func:`second_pass`, which lists the flagged messages. The
in-memory report is the one-partition case and the Dask engine (:mod:`oasst_quality.scale`) maps
the same functions over many (:mod:`oasst_quality.engine`), so both give the same numbers: every
seeded bootstrap draws from merged statistics in a canonical order, never from a partition's.
The sections that use them are listed in :mod:`oasst_quality.report.sections`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import consensus as cs
from . import published, skew
from . import toxicity as tx
from .adapter import Tables
from .annotations import Annotations
from .errors import OasstQualityError, UsageError

if TYPE_CHECKING:
    from .dataset import Dataset

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


# --------------------------------------------------------------------------- first pass, per section


def structure_partial(ds: Dataset, t: Tables) -> dict:
    """The partition's summary (:meth:`Dataset.summary`) in counts that add."""
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


def agreement_partial(ds: Dataset, t: Tables) -> dict:
    """The flags' vote patterns (:func:`oasst_quality.published.flag_vote_patterns`)."""
    return published.flag_vote_patterns(t.labels, t.labels_by_name)


def aggregation_partial(ds: Dataset, t: Tables) -> dict:
    """The labels' (votes, value) patterns (:func:`oasst_quality.published.grid_patterns`)."""
    return published.grid_patterns(t.labels, t.labels_by_name)


def consensus_partial(ds: Dataset, t: Tables) -> dict:
    """Ranked reply sets and the preference pairs they imply."""
    return cs.ranking_summary(t.rankings)


def skew_partial(ds: Dataset, t: Tables) -> dict:
    """Tallies per language and contributor (:func:`oasst_quality.skew.tallies`)."""
    return skew.tallies(t)


def toxicity_partial(ds: Dataset, t: Tables) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The (scores, human) tables of :func:`oasst_quality.toxicity.comparison_tables`; None when the
    partition carries no model scores."""
    return tx.comparison_tables(t) if not t.scores.empty else None


@dataclass
class Comparison:
    """Partitions' toxicity (scores, human) tables (``pieces``, in partition order), kept apart until
    first unpacked (``scores, human = comparison``): then joined and sorted by message id once, not
    once per merge (each merge re-sorted the rows merged so far: a pass over them per partition)."""

    pieces: list[tuple[pd.DataFrame, pd.DataFrame]]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if len(self.pieces) > 1:  # joined once; every later unpacking reads the joined tables
            pieces, self.pieces = self.pieces, []
            self.pieces = [tuple(_sorted_join(list(x)) for x in zip(*pieces))]
        return iter(self.pieces[0])


def _sorted_join(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(tables).sort_index(kind="stable")``, built a column at a time: the joined table is
    the one copy made, not the concatenation and then its sorted copy (docs/scale.md, fourth round).
    A float column that some tables lack is NaN there, as concat makes it; any other difference
    between the tables (their columns, their indexes' names or dtypes) goes through concat."""
    ids = np.concatenate([t.index.to_numpy() for t in tables])
    columns = pd.concat([t.iloc[:0] for t in tables]).columns  # their union, as concat orders it
    everywhere = {c for c in columns if all(c in t.columns for t in tables)}
    floats = all((t[list(set(t.columns) - everywhere)].dtypes == "float64").all() for t in tables)
    same_index = len({(t.index.name, t.index.dtype) for t in tables}) == 1  # else concat's own index
    if not floats or not same_index or pd.isna(ids).any() or len({t.columns.name for t in tables} | {None}) > 2:
        return pd.concat(tables).sort_index(kind="stable")
    order = np.argsort(ids, kind="stable")
    rows = np.cumsum([0] + [len(t) for t in tables])
    joined = {}
    for name in columns:
        if name in everywhere:
            joined[name] = pd.concat([t[name] for t in tables], ignore_index=True).array.take(order)
            continue
        column = np.full(rows[-1], np.nan)
        for t, start in zip(tables, rows):
            if name in t.columns:
                column[start : start + len(t)] = t[name].to_numpy()
        joined[name] = column[order]
    index = pd.Index(ids[order], dtype=tables[0].index.dtype, name=tables[0].index.name)
    return pd.DataFrame(joined, index=index, columns=columns, copy=False)


def toxicity_merge(a: tuple | Comparison | None, b: tuple | Comparison | None) -> Comparison | tuple | None:
    """Two partitions' (scores, human) tables together (a :class:`Comparison`, which unpacks as the
    two tables joined and sorted by message id, partition order on ties)."""
    if a is None or b is None:
        return b if a is None else a
    return Comparison([p for x in (a, b) for p in (x.pieces if isinstance(x, Comparison) else [x])])


#: The per-annotator tables that a client attached to a Dask engine's partitions, all of them, by
#: token (:class:`Held`): :meth:`Gathered.take` reads them there, so the partitions never send theirs
#: back. Held as long as the engine is (it keeps them for its whole life, report or not); a token
#: whose engine is gone, or that another process gathered, cannot be taken (:meth:`Gathered.take`).
HELD: weakref.WeakValueDictionary[str, Annotations] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class Held(Annotations):
    """A partition's per-annotator tables whose client holds them all, in :data:`HELD` under
    ``token``: its :func:`annotators_partial` sends the token, not the tables."""

    token: str = ""


def annotators_partial(ds: Dataset, t: Tables) -> Gathered | None:
    """The per-annotator tables attached to the partition (only their token when the client holds
    them: :class:`Held`), with the export's rankings of the reply sets they rank (the ones the
    comparison with the export reads), or None if none are attached."""
    if ds.annotations is None:
        return None
    export = t.rankings[t.rankings["group"].isin(ds.annotations.rankings["group"])]
    return Gathered([(ds.annotations.token if isinstance(ds.annotations, Held) else ds.annotations, export)])


def annotations_add(a: Annotations, b: Annotations) -> Annotations:
    """Two partitions' per-annotator tables as one, each row keeping its label (its place in the
    input: :func:`annotations_in_order` restores that order)."""
    return Annotations(*(_cat([getattr(a, n), getattr(b, n)]) for n in ("votes", "rankings", "rejected")))


def _cat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables one after the other; an empty one is left out (its dtypes must not change the others')."""
    full = [x for x in tables if len(x)]
    return tables[0] if not full else full[0] if len(full) == 1 else pd.concat(full)


def annotations_in_order(a: Annotations) -> Annotations:
    """Merged per-annotator tables in input order (their row labels), labelled 0, 1, ... again."""
    tables = (getattr(a, n) for n in ("votes", "rankings", "rejected"))
    return Annotations(*(x.sort_index(kind="stable").reset_index(drop=True) for x in tables))


@dataclass
class Gathered:
    """Partitions' per-annotator tables and export rankings (``pieces``, in partition order), kept
    apart until :meth:`take` joins them: one concatenation per table instead of one per merge. A
    piece's tables may be the token of all partitions' tables, held where :meth:`take` runs
    (:class:`Held`)."""

    pieces: list[tuple[Annotations | str, pd.DataFrame]]

    def take(self) -> tuple[Annotations, pd.DataFrame]:
        """The per-annotator tables in input order (:func:`annotations_in_order`) and the export's
        rankings in partition order. The pieces are let go of (this object is left empty), so that
        once joined, tables the partitions sent are freed if nothing else holds them (tables held
        under a token stay with their engine)."""
        pieces, self.pieces = self.pieces, []
        tokens = {a for a, _ in pieces if isinstance(a, str)}
        if tokens:  # every partition's rows, held here: one engine's, so one token for all
            if len(tokens) > 1 or any(not isinstance(a, str) for a, _ in pieces):
                raise UsageError("per-annotator tables of different Dask engines cannot be gathered into one")
            (token,) = tokens
            joined = HELD.get(token)
            if joined is None:
                raise UsageError(
                    "the Dask engine that attached these per-annotator tables is gone (it holds them): "
                    "keep it until its report is built"
                )
        else:
            joined = Annotations(*(_cat([getattr(a, n) for a, _ in pieces]) for n in ("votes", "rankings", "rejected")))
        export = pd.concat([e for _, e in pieces], ignore_index=True)
        del pieces
        return annotations_in_order(joined), export


def annotators_merge(a: Gathered | None, b: Gathered | None) -> Gathered | None:
    """Two partitions' per-annotator tables and export rankings together (joined by :meth:`Gathered.take`)."""
    if a is None or b is None:
        return b if a is None else a
    return Gathered(a.pieces + b.pieces)


# --------------------------------------------------------------------------- second pass


def second_pass(
    ds: Dataset, t: Tables, fits, annotators: dict | None = None, flags_dir: str | None = None, *, part: int = 0
) -> dict:
    """One partition's flagged messages (with the label models ``fits`` of the whole dataset: see
    :func:`oasst_quality.published.label_fits`) and text snippets for the first of each kind.

    ``flags_dir``: a folder every worker writes, where the partition's flags go as one part of the
    ``flags.parquet`` dataset (:func:`oasst_quality.flags.write_part`), named by its number ``part``
    (the engine's ``numbered``: the same names, so the same file order, on every run); the result
    then holds their counts per kind and severity instead of the table (the flagged messages are
    counted over all parts: :func:`oasst_quality.flags.flagged_messages`, a message id can recur in
    another partition's part).
    """
    from .flags import curation_flags, write_part

    def flags() -> dict:
        table = curation_flags(t, annotations=ds.annotations, annotators=annotators, fits=fits)
        text = t.messages.set_index("item")["text"]
        top = table.groupby("kind", sort=False, observed=True).head(_EXAMPLES)
        snippets = text.reindex(top["message_id"]).fillna("").str.slice(0, 160).to_numpy()
        examples = [top.assign(text=snippets)]
        if flags_dir is None:
            return {"table": [table], "examples": examples}
        if len(table):
            write_part(table, flags_dir, part)
        counts = table.groupby(["kind", "severity"], observed=True).size()
        return {"counts": counts, "examples": examples}

    return {"flags": guarded(flags)}


def texts(ds: Dataset, t: Tables, ids: list) -> list[pd.DataFrame]:
    """The language and text of the partition's messages among ``ids``."""
    m = t.messages
    return [m.loc[m["item"].isin(ids), ["item", "lang", "text"]].rename(columns={"item": "message_id"})]
