"""Per-annotator votes and rankings as two validated long tables.

The public OASST releases keep only each message's mean label with its count and the merged ranks;
curators who run a backend or a crowd project hold each annotator's answers. This module reads
them into the two tables every analysis can take:

* ``votes``: ``item, annotator, label, value, count, time``. One row per vote (``count`` 1); a row
  with ``count`` > 1 is a published aggregate (a mean of ``count`` votes) that cannot be split.
* ``rankings``: ``group, annotator, ranking, time``. ``ranking`` is a tuple of item ids, best
  first, a tied position a frozenset.

Sources: long tables (CSV, TSV, parquet or a DataFrame; crowd-kit's ``task, worker, label`` too),
the Open-Assistant backend's per-user rows (``text_labels`` and ``message_reaction`` exported as
JSON lines) and Label Studio JSON exports (:func:`from_label_studio`); a Dataset's published
aggregates in the same tables come from :func:`oasst_quality.adapter.annotations`. A bad row raises
:class:`~oasst_quality.errors.SchemaError` with the source, the line and the field; with
``lenient=True`` it is set aside, raw, in :attr:`Annotations.rejected`. :func:`check_items`
validates the tables against a Dataset's messages the same way.
"""

from __future__ import annotations

import codecs
import gzip
import json
import math
import re
from array import array
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._util import run_starts
from .errors import SchemaError, UsageError
from .schema import DETOXIFY_HEADS, FLAG_LABELS, LIKERT_LABELS

VOTE_COLUMNS = ("item", "annotator", "label", "value", "count", "time")
RANKING_COLUMNS = ("group", "annotator", "ranking", "time")
REJECTED_COLUMNS = ("source", "line", "field", "detail", "raw")

# Column names recognized without being told, in order of preference.
_ALIASES = {
    "item": ("item", "message_id", "task", "item_id"),
    "annotator": ("annotator", "worker", "user_id", "annotator_id", "completed_by"),
    "time": ("time", "created_date", "timestamp"),
    "group": ("group", "parent_id", "ranking_parent_id"),
}


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class Annotations:
    """Validated per-annotator ``votes`` and ``rankings``, and the rows set aside (``rejected``)."""

    votes: pd.DataFrame = field(default_factory=lambda: _empty(VOTE_COLUMNS))
    rankings: pd.DataFrame = field(default_factory=lambda: _empty(RANKING_COLUMNS))
    rejected: pd.DataFrame = field(default_factory=lambda: _empty(REJECTED_COLUMNS))

    def __or__(self, other: Annotations) -> Annotations:
        """Both sources' rows together."""
        return Annotations(*(_concat(getattr(self, n), getattr(other, n)) for n in ("votes", "rankings", "rejected")))

    def summary(self) -> dict:
        """Counts: votes, labels, annotators, ranked groups, rankings, rejected rows."""
        v, r = self.votes, self.rankings
        return {
            "n_votes": int(v["count"].sum()) if len(v) else 0,
            "n_vote_rows": len(v),
            "labels": sorted(v["label"].unique().tolist()),
            "n_annotators": _n_distinct(v["annotator"], r["annotator"]),
            "n_ranked_groups": int(r["group"].nunique()),
            "n_rankings": len(r),
            "n_rejected": len(self.rejected),
        }


def _n_distinct(*columns: pd.Series) -> int:
    """How many distinct ids, missing ones left out, the columns hold together (``nunique`` of their
    concatenation, from each column's distinct ids: no copy of the columns, no missing-value mask)."""
    ids = set().union(*(pd.unique(c) for c in columns))
    return sum(1 for x in ids if not pd.isna(x))


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    parts = [x for x in (a, b) if len(x)]
    return pd.concat(parts, ignore_index=True) if parts else a.iloc[:0]


# --------------------------------------------------------------------------- errors


class _Rows:
    """Collects the rows of one source that fail a check: raise at once, or set them aside; a row's
    raw text is written only when it is set aside."""

    def __init__(self, source: str, lenient: bool, frame: pd.DataFrame, lines: np.ndarray) -> None:
        self.source, self.lenient, self.table, self.lines = source, lenient, frame, lines
        self.bad = np.zeros(len(frame), dtype=bool)
        self.rejected: list[pd.DataFrame] = []

    def fail_each(self, problems: np.ndarray, field_name: str) -> None:
        """Rows whose entry of ``problems`` (one per row: a text, or None) is set fail with that text."""
        mask = np.not_equal(problems, None)
        self.fail(mask, field_name, problems[mask])

    def fail_coded(self, codes: np.ndarray, per_value: np.ndarray | None, field_name: str) -> None:
        """:meth:`fail_each` with the texts given per distinct value: row ``i`` fails with
        ``per_value[codes[i]]`` where that is set (``per_value`` None: no value has one). Rows are
        looked at only when some value has a text."""
        if per_value is None:
            return
        flagged = np.not_equal(per_value, None)
        if flagged.any():
            mask = flagged[codes]
            self.fail(mask, field_name, per_value[codes[mask]])

    def fail_where(self, codes: np.ndarray, per_value: np.ndarray, field_name: str, detail: str) -> None:
        """Rows whose code's entry of ``per_value`` (one flag per distinct value, the last for code
        -1) is set fail with ``detail``; the rows are looked at only when some value that they hold is."""
        if per_value[:-1].any() or (per_value[-1] and len(codes) and codes.min() < 0):
            self.fail(per_value[codes], field_name, detail)

    def fail(self, mask: np.ndarray, field_name: str, detail: str | np.ndarray) -> None:
        """Rows of ``mask`` fail on ``field_name``: ``detail`` is one text for all, or one per row
        of ``mask`` (in order). Rows that failed an earlier check keep that failure."""
        mask = np.asarray(mask, dtype=bool)
        fresh = mask & ~self.bad
        if not fresh.any():
            return
        index = np.flatnonzero(fresh)
        if not isinstance(detail, str):
            detail = np.asarray(detail, dtype=object)[fresh[mask]]
        if not self.lenient:
            first = detail if isinstance(detail, str) else detail[0]
            raise SchemaError(first, path=self.source, line=int(self.lines[index[0]]), field=field_name)
        self.rejected.append(
            pd.DataFrame(
                {
                    "source": self.source,
                    "line": self.lines[index].astype(int),
                    "field": field_name,
                    "detail": detail,
                    "raw": _raw(self.table.iloc[index]),
                },
                columns=list(REJECTED_COLUMNS),
            )
        )
        self.bad |= fresh

    def frame(self) -> pd.DataFrame:
        if not self.rejected:
            return pd.DataFrame(columns=list(REJECTED_COLUMNS))
        return pd.concat(self.rejected, ignore_index=True)


def _raw(rows: pd.DataFrame) -> list[str]:
    """Each row as a JSON object, its raw text in the rejected table."""
    return [json.dumps(r, default=str, ensure_ascii=False) for r in rows.to_dict(orient="records")]


# --------------------------------------------------------------------------- value rules (as for exports)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters (NUL, ESC, ...)
_SPACE = re.compile(r"\s")  # what str.strip() strips (Unicode white space)
_SCORE_HEADS = tuple(h for h in DETOXIFY_HEADS if h not in LIKERT_LABELS)


def _scale(scale: tuple[float, float] | None) -> tuple[float, float]:
    if scale is None:
        return 0.0, 1.0
    try:
        low, high = (float(x) for x in scale)
    except (TypeError, ValueError):
        raise UsageError(f"scale must be (low, high), got {scale!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise UsageError(f"scale must be two finite numbers, low < high; got {scale!r}")
    return low, high


def value_problem(label: str, value: float, scale: tuple[float, float] | None = None) -> str | None:
    """Why one vote's value is not one its label allows, or None: the rules the export loader
    applies. A flag vote is 0 or 1; a Likert vote lies in [0, 1] (the OASST grid), or in the
    declared ``scale``; a Detoxify score lies in [0, 1]. Other labels take any finite number."""
    if label in FLAG_LABELS:
        return None if value in (0.0, 1.0) else f"a flag vote ({label}) is 0 or 1, got {value:g}"
    if label in LIKERT_LABELS:
        low, high = _scale(scale)
        if low <= value <= high:
            return None
        hint = (
            ""
            if scale is not None
            else "; rescale the values to [0, 1], or declare the scale (--scale 1,5; scale=(1, 5) in Python)"
        )
        return f"a Likert vote ({label}) lies in [{low:g}, {high:g}], got {value:g}{hint}"
    if label in _SCORE_HEADS and not 0.0 <= value <= 1.0:
        return f"a Detoxify score ({label}) lies in [0, 1], got {value:g}"
    return None


# each ruled label's kind (1 flag, 2 Likert, 3 Detoxify score), in value_problem's order of precedence
_RULE_KIND = {**dict.fromkeys(_SCORE_HEADS, 3), **dict.fromkeys(LIKERT_LABELS, 2), **dict.fromkeys(FLAG_LABELS, 1)}


def _rule_kind(label: Any) -> int:
    try:
        return _RULE_KIND.get(label, 0)
    except TypeError:  # an unhashable default label: no rule
        return 0


def _refused(numbers: np.ndarray, scale) -> np.ndarray:
    """(4, len(numbers)): whether each kind's rule (:func:`value_problem`; row 0: no rule) refuses
    each finite number, worked out on the array."""
    low, high = _scale(scale)
    x = numbers
    refused = np.zeros((4, x.size), dtype=bool)
    refused[1] = ~((x == 0.0) | (x == 1.0))
    refused[2] = ~((low <= x) & (x <= high))
    refused[3] = ~((0.0 <= x) & (x <= 1.0))
    refused[1:] &= np.isfinite(x)
    return refused


def _check_values(
    rows: _Rows,
    label_codes: np.ndarray,
    labels: np.ndarray,
    value_codes: np.ndarray,
    numbers: np.ndarray,
    field_name: str,
    scale,
) -> None:
    """Each finite value against its label's rule (:func:`value_problem`). The labels and the
    numbers come distinct (``labels[label_codes]`` and ``numbers[value_codes]`` are the rows'; a
    last entry of each for code -1): the rules are applied to the distinct numbers on the array,
    the rows looked at only when some label's rule refuses some number, and the texts written by
    :func:`value_problem` once per distinct (label, value) of the refused rows."""
    _scale(scale)  # a bad scale is the caller's error, whatever the rows hold
    kind = np.fromiter(map(_rule_kind, labels), dtype=np.int8, count=len(labels))
    if not kind.any():
        return
    refused = _refused(numbers, scale)
    if not refused[np.unique(kind)].any():
        return
    mask = refused[kind[label_codes], value_codes] & ~rows.bad  # code -1: no rule, or NaN
    if not mask.any():
        return
    n = len(numbers)
    pair, pairs = pd.factorize(label_codes[mask].astype(np.int64) * n + value_codes[mask])
    verdicts = np.array([value_problem(str(labels[p // n]), float(numbers[p % n]), scale) for p in pairs], dtype=object)
    problems = np.full(len(mask), None, dtype=object)
    problems[mask] = verdicts[pair]
    rows.fail_each(problems, field_name)


def _id_problem(*values: Any) -> str | None:
    for v in values:
        m = _CONTROL.search(v) if isinstance(v, str) else None
        if m:
            return f"control character U+{ord(m.group()):04X} in the id {v!r:.60}"
    return None


def _text(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Ids as strings (numbers from CSV included), missing stays missing; each row's control
    character problem (:func:`_id_problem`, None without one); and which rows are missing
    (:func:`_distinct`, spread to the rows)."""
    codes, text, problems = _distinct(values)
    if problems is None:
        problems = np.full(text.size, None, dtype=object)
    missing = np.equal(text, None)[codes]  # code -1: missing
    return pd.Series(text[codes], index=values.index, dtype=object), problems[codes], missing


_NOT_BLANK = "^[!-~]"  # begins with a printable ASCII character other than a space (RE2)
_CONTROL_RE2 = "[\\x00-\\x1f\\x7f-\\x9f]"  # _CONTROL as Arrow's regular expressions write it


def _distinct(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes, text, problems): the distinct ids as strings (numbers from CSV included; None where
    missing, a blank string included), each row's code into them (-1: missing, ``text`` ends with
    a None for it), and each distinct id's control character problem (:func:`_id_problem`, None
    without one; ``problems`` None where no id has one). Ids repeat (an item has several votes,
    an annotator many): all is worked out once per distinct value."""
    inferred = pd.api.types.infer_dtype(values, skipna=True) if values.dtype == object else None
    arrow = None
    if inferred is not None and inferred not in ("string", "empty"):
        uniques, codes = values.to_numpy(dtype=object), np.arange(len(values))  # mixed types: 1 == 1.0 == True
    else:
        codes, uniques, arrow = _factorize(values)
    if inferred in ("string", "empty") or isinstance(values.dtype, pd.StringDtype):  # strings: a blank one is missing
        text = np.array(uniques, dtype=object)
        if arrow is None:
            text[np.fromiter((not v.strip() for v in text), dtype=bool, count=text.size)] = None
        else:  # only an id that does not begin with a printable ASCII character can be blank
            maybe = np.flatnonzero(~_arrow_matches(arrow, _NOT_BLANK))
            text[maybe[np.fromiter((not text[i].strip() for i in maybe), dtype=bool, count=maybe.size)]] = None
    else:
        text = np.array([None if _missing(v) else str(v) for v in uniques], dtype=object)
    if arrow is not None:  # one search on Arrow's side: a blank id may hold one too (then each is looked at)
        control = bool(_arrow_matches(arrow, _CONTROL_RE2).any())
    else:  # one search over all the ids joined by a space (not a control character)
        control = _CONTROL.search(" ".join(t for t in text if t is not None)) is not None
    problems = None
    if control:
        problems = np.array([*(None if t is None else _id_problem(t) for t in text), None], dtype=object)
    return codes, np.append(text, None), problems


def _arrow_matches(arrow: Any, pattern: str) -> np.ndarray:
    """Whether each string of an Arrow array (no nulls) holds a match of ``pattern`` (RE2)."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(arrow, pattern).to_numpy(zero_copy_only=False)


def _factorize(values: pd.Series) -> tuple[np.ndarray, Any, Any]:
    """``pd.factorize(values)`` (code -1: missing) and, for pandas' Arrow-backed strings (a CSV
    table's columns), the distinct values as an Arrow array too (else None). Those are encoded on
    Arrow's side, as pandas encodes them, without its two copies of the codes (writable, 64-bit)."""
    arrow = _arrow_strings(values)
    if arrow is None or not len(arrow):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes, uniques, None
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = arrow.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = encoded.indices if not encoded.indices.null_count else pc.fill_null(encoded.indices, -1)
    return (
        indices.to_numpy(),
        np.array(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object),
        encoded.dictionary,
    )


def _arrow_strings(values: Any) -> Any:
    """The Arrow array behind pandas' Arrow-backed strings (a CSV table's columns), else None."""
    dtype = getattr(values, "dtype", None)
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    import pyarrow as pa

    arrow = pa.array(getattr(values, "array", values))
    return arrow if (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)) else None


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or (isinstance(v, str) and not v.strip())


def _column(frame: pd.DataFrame, given: str | None, role: str, source: str, required: bool = True) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise SchemaError(f"no column {given!r} (it has {list(frame.columns)})", path=source, field=given)
        return given
    for name in _ALIASES.get(role, (role,)):
        if name in frame.columns:
            return name
    if required:
        names = " or ".join(repr(n) for n in _ALIASES.get(role, (role,)))
        raise SchemaError(
            f"no {role} column: name one {names}, or say which (it has {list(frame.columns)})", path=source, field=role
        )
    return None


def _table(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str, np.ndarray]:
    """(frame, source name, line of each row) of a table or a file."""
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
        name = "DataFrame"
        lines = np.arange(len(frame)) + 1  # 1-based row numbers
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise SchemaError("file not found" if not path.exists() else "is a folder; give a file", path=name)
        lower = path.name.lower()
        try:
            if lower.endswith(".parquet"):
                frame = pd.read_parquet(path)
                lines = np.arange(len(frame)) + 1
            elif lower.endswith((".jsonl", ".jsonl.gz", ".json")):
                frame = pd.read_json(path, lines=not lower.endswith(".json"), dtype=False)
                lines = np.arange(len(frame)) + 1
            else:
                sep = "\t" if ".tsv" in lower else ","
                frame = _arrow_csv(path, sep)
                if frame is None:
                    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
                lines = np.arange(len(frame)) + 2  # line 1 is the header
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            raise SchemaError(f"not a readable table ({str(exc).splitlines()[0][:160]})", path=name) from None
        frame = frame.reset_index(drop=True)  # a parquet file's stored index, a JSON object's keys: rows 0, 1, ...
    return frame, name, lines


def _arrow_csv(path: Path, sep: str) -> pd.DataFrame | None:
    """``pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")`` read by
    Arrow's CSV reader (a third of the CPU time), or None where the file is one Arrow might read
    otherwise (a header naming a column twice, which pandas renames) or cannot read (a row with
    fewer or more fields, bytes that are not UTF-8, no header): pandas then reads it, with its errors."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f, delimiter=sep))
        if not all(header) or len(set(header)) < len(header):  # pandas names a blank column, renames a repeat
            return None
        if len(header) < 2 or header[0].startswith("\ufeff"):  # pandas skips a blank line, strips a second mark
            return None
        table = pcsv.read_csv(
            path,
            # one thread: a file whose values may hold line ends is cut into blocks by a serial pass
            # first, and the parallel parse then costs a third more CPU (about 0.07 s at 100,000
            # messages' votes) than the single pass, for no shorter wall time on two cores
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (StopIteration, ValueError, UnicodeDecodeError, OSError, csv.Error, pa.ArrowException):
        return None
    if table.column_names != header or any(t != pa.string() for t in table.schema.types):
        return None
    return table.to_pandas()


# --------------------------------------------------------------------------- votes


def read_votes(
    source: str | Path | pd.DataFrame,
    *,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    value: str | None = None,
    time: str | None = None,
    default_label: str = "label",
    scale: tuple[float, float] | None = None,
    lenient: bool = False,
) -> Annotations:
    """Votes from a long table: one row per (item, annotator, label, value).

    Columns are found by name (``item``/``message_id``/``task``, ``annotator``/``worker``/``user_id``,
    ``label``, ``value``, ``time``/``created_date``) or named by keyword. A table without a ``value``
    column is crowd-kit's ``task, worker, label``: its ``label`` holds the value, and the label's
    name is ``default_label``. Values must be numbers (map text categories to codes first), and
    the OASST labels keep the export's rules (:func:`value_problem`): flags 0 or 1, Likert labels
    in [0, 1] unless ``scale=(low, high)`` declares theirs, Detoxify scores in [0, 1]. Ids hold no
    control character.
    """
    return _votes(*_table(source), item, annotator, label, value, time, default_label, scale, lenient)


def _votes(
    frame: pd.DataFrame,
    name: str,
    lines: np.ndarray,
    item: str | None,
    annotator: str | None,
    label: str | None,
    value: str | None,
    time: str | None,
    default_label: str,
    scale: tuple[float, float] | None,
    lenient: bool,
) -> Annotations:
    """:func:`read_votes` on a table read already (``lines``: each row's line in ``name``)."""
    value_col = value or ("value" if "value" in frame.columns else None)
    if value_col is None:  # crowd-kit: the label column holds the answer
        value_col = _column(frame, label, "label", name)
        label_codes, labels, no_name = _default_names(frame, default_label)
    else:
        if value_col not in frame.columns:
            raise SchemaError(f"no column {value_col!r} (it has {list(frame.columns)})", path=name, field=value_col)
        label_col = _column(frame, label, "label", name, required=False)
        label_col = None if label_col == value_col else label_col  # crowd-kit's label named as the value
        if label_col:
            label_codes, labels, _ = _distinct(frame[label_col])
            no_name = np.equal(labels, None)
        else:
            label_codes, labels, no_name = _default_names(frame, default_label)
    rows = _Rows(name, lenient, frame, lines)
    item_codes, items, item_problems = _distinct(frame[_column(frame, item, "item", name)])
    who_codes, who, who_problems = _distinct(frame[_column(frame, annotator, "annotator", name)])
    value_codes, numbers = _numbers(frame[value_col])
    # each check on the distinct values first: the rows are looked at only where some value fails it
    rows.fail_where(item_codes, np.equal(items, None), "item", "missing item id")
    rows.fail_where(who_codes, np.equal(who, None), "annotator", "missing annotator id")
    rows.fail_where(label_codes, no_name, "label", "missing label name")
    rows.fail_where(value_codes, ~np.isfinite(numbers), value_col, "value is not a number")
    rows.fail_coded(item_codes, item_problems, "item")  # a control character in an id (see _distinct)
    rows.fail_coded(who_codes, who_problems, "annotator")
    _check_values(rows, label_codes, labels, value_codes, numbers, value_col, scale)
    # the three id columns taken into one block (what pandas would stack them into, a copy)
    ids = np.empty((3, len(frame)), dtype=object)
    for i, (distinct, codes) in enumerate(((items, item_codes), (who, who_codes), (labels, label_codes))):
        np.take(distinct, codes, out=ids[i], mode="wrap")  # code -1: the last entry (no buffer, as 'raise' has)
    votes = pd.DataFrame(ids.T, index=frame.index, columns=["item", "annotator", "label"], dtype=object, copy=False)
    votes["value"] = numbers[value_codes]
    votes["count"] = 1
    votes["time"] = _times(frame, time)
    kept = votes[~rows.bad].reset_index(drop=True) if rows.bad.any() else votes  # (a RangeIndex already)
    return Annotations(votes=kept, rejected=rows.frame())


def _default_names(frame: pd.DataFrame, default_label: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the table has no label names: every row's code (0), the one name (``default_label``,
    then a last entry for code -1, as :func:`_distinct` gives them) and which of the two is missing
    (the name, where ``default_label`` is missing)."""
    labels = np.empty(2, dtype=object)
    labels[0] = default_label
    return np.zeros(len(frame), dtype=np.intp), labels, np.array([bool(pd.isna(default_label)), True])


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, numbers): each row's code into the distinct values as floats (NaN where not a
    number; a last NaN for code -1), each distinct text converted once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    numbers = pd.to_numeric(pd.Series(uniques).replace("", np.nan), errors="coerce").astype(float)
    return codes, np.append(numbers.to_numpy(), np.nan)


def _times(frame: pd.DataFrame, given: str | None) -> pd.Series:
    col = _column(frame, given, "time", "", required=False) if given is None else given
    if col is None or col not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[col].replace("", None), utc=True, errors="coerce", format="ISO8601")


# --------------------------------------------------------------------------- rankings


def parse_ranking(text: str) -> tuple:
    """``"a>b=c>d"`` -> ``("a", frozenset({"b", "c"}), "d")``: best first, ``=`` ties."""
    positions = []
    for part in str(text).split(">"):
        names = [n.strip() for n in part.split("=") if n.strip()]
        if not names:
            raise UsageError(f"ranking {text!r:.80} has an empty position; write it as a>b=c>d")
        positions.append(names[0] if len(names) == 1 else frozenset(names))
    return tuple(positions)


def format_ranking(ranking: Iterable) -> str:
    """The inverse of :func:`parse_ranking` (tied ids sorted)."""
    return ">".join("=".join(sorted(map(str, p))) if isinstance(p, frozenset) else str(p) for p in ranking)


def _as_ranking(value: Any) -> tuple:
    if isinstance(value, str):
        return parse_ranking(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        out = tuple(frozenset(map(str, p)) if isinstance(p, (set, frozenset, list, tuple)) else str(p) for p in value)
        if not out:
            raise UsageError("empty ranking")
        return out
    raise UsageError(f"expected a ranking like a>b=c>d or a list of ids, got {type(value).__name__}")


def _ranked_ids(ranking: tuple) -> list[str]:
    return [c for p in ranking for c in (sorted(p) if isinstance(p, frozenset) else (p,))]


def _parse_rankings(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ranking (None where it is not one) and why not (None where it is). Written rankings
    are parsed once per distinct text: the rankers of a reply set often agree."""
    arrow = None
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        codes, uniques, arrow = _factorize(values)
        uniques = np.asarray(uniques, dtype=object)  # Python strings once (Arrow's are made one per look)
    else:  # lists, or missing values: each row
        uniques, codes = values.to_numpy(dtype=object), np.arange(len(values))
    # no id of a written ranking holds a control character when no text does (the usual case), and
    # none needs stripping when no text holds white space (\s is what str.strip strips): one search
    # for each, or one on Arrow's side for any character but printable ASCII (neither, where none)
    if arrow is not None and not _arrow_matches(arrow, "[^!-~]").any():
        clean, spaced = True, False
    else:
        joined = ">".join([v for v in uniques if isinstance(v, str)])
        clean, spaced = _CONTROL.search(joined) is None, _SPACE.search(joined) is not None
    parsed, problems = [], []
    for value in uniques:
        if clean and isinstance(value, str) and "=" not in value:  # no tie: a>b>c, as parse_ranking reads it
            ids = [n.strip() for n in value.split(">")] if spaced else value.split(">")
            if all(ids) and len(set(ids)) == len(ids):
                parsed.append(tuple(ids))
                problems.append(None)
                continue
        try:
            r = _as_ranking(value)
            ids = _ranked_ids(r)
            if len(set(ids)) < len(ids):
                raise UsageError("an id appears twice in one ranking")
            if problem := _id_problem(*ids):
                raise UsageError(problem)
            parsed.append(r)
            problems.append(None)
        except ValueError as exc:
            parsed.append(None)
            problems.append(str(exc))
    out = np.empty(len(parsed), dtype=object)
    out[:] = parsed  # tuples stay whole (np.array would make a 2-d array of equal-length rankings)
    return out[codes], np.array(problems, dtype=object)[codes]


def read_rankings(
    source: str | Path | pd.DataFrame,
    *,
    group: str | None = None,
    annotator: str | None = None,
    ranking: str = "ranking",
    time: str | None = None,
    lenient: bool = False,
) -> Annotations:
    """Rankings from a long table: one row per (group, annotator, ranking).

    ``group`` (or ``parent_id``) is the reply set, ``ranking`` the item ids best first, written
    ``a>b=c>d`` (``=`` ties) or given as a list. An id named twice in one ranking is an error.
    """
    return _rankings(*_table(source), group, annotator, ranking, time, lenient)


def _rankings(
    frame: pd.DataFrame,
    name: str,
    lines: np.ndarray,
    group: str | None,
    annotator: str | None,
    ranking: str,
    time: str | None,
    lenient: bool,
) -> Annotations:
    """:func:`read_rankings` on a table read already (``lines``: each row's line in ``name``)."""
    if ranking not in frame.columns:
        raise SchemaError(
            f"no column {ranking!r} (it has {list(frame.columns)}); a rankings table has group (or parent_id), "
            "annotator, ranking (written a>b=c>d)",
            path=name,
            field=ranking,
        )
    rows = _Rows(name, lenient, frame, lines)
    group_codes, groups, group_problems = _distinct(frame[_column(frame, group, "group", name)])
    who_codes, who, who_problems = _distinct(frame[_column(frame, annotator, "annotator", name)])
    rows.fail_where(group_codes, np.equal(groups, None), "group", "missing group (parent) id")
    rows.fail_where(who_codes, np.equal(who, None), "annotator", "missing annotator id")
    rows.fail_coded(group_codes, group_problems, "group")  # a control character in an id (see _distinct)
    rows.fail_coded(who_codes, who_problems, "annotator")
    parsed, problems = _parse_rankings(frame[ranking])
    rows.fail_each(problems, ranking)
    table = pd.DataFrame(
        {
            "group": pd.Series(groups[group_codes], index=frame.index, dtype=object),
            "annotator": pd.Series(who[who_codes], index=frame.index, dtype=object),
            "ranking": pd.Series(parsed, index=frame.index, dtype=object),
            "time": _times(frame, time),
        }
    )
    kept = table[~rows.bad].reset_index(drop=True) if rows.bad.any() else table  # (a RangeIndex already)
    return Annotations(rankings=kept, rejected=rows.frame())


# --------------------------------------------------------------------------- the Open-Assistant backend


def _records(source: str | Path | Iterable[dict]) -> tuple[str, Iterator[tuple[int, Any, str]]]:
    """The source's name and its lines as (line number, record, text), read one at a time: the
    record is None for a blank line and a located :class:`SchemaError` for broken JSON."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise SchemaError("file not found" if not path.exists() else "is a folder; give a file", path=str(path))
        return str(path), _file_records(path)
    return "records", ((n, r, json.dumps(r, default=str)) for n, r in enumerate(source, start=1))


def _open_lines(path: Path) -> Iterator[tuple[int, str, SchemaError | None]]:
    """The lines of a JSON lines file, gzip when its name ends in .gz (in any case), as (line number,
    text without its end, None), split as text mode splits them (\\n, \\r\\n and \\r end a line; a
    leading byte-order mark is dropped); a line that is not UTF-8 comes as (line number, its text
    with the bad bytes replaced, a SchemaError locating it)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    n = 0
    with opener(path, "rb") as fh:
        for chunk in fh:  # bytes up to each \n; a \r (never inside a UTF-8 character) ends a line too
            if n == 0 and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            pieces = chunk.replace(b"\r\n", b"\n").split(b"\r") if b"\r" in chunk else [chunk]
            for line in pieces if pieces[-1] else pieces[:-1]:  # an empty last piece: the file ended on \r
                n += 1
                line = line.rstrip(b"\n")
                try:
                    yield n, line.decode("utf-8"), None
                except UnicodeDecodeError as exc:
                    detail = f"bytes that are not UTF-8 at byte {exc.start}: {line[exc.start : exc.start + 4]!r}"
                    yield n, line.decode("utf-8", "replace"), SchemaError(detail, path=str(path), line=n)


def _file_records(path: Path) -> Iterator[tuple[int, Any, str]]:
    for n, line, problem in _open_lines(path):
        if problem is not None:
            yield n, problem, line
            continue
        try:
            yield n, json.loads(line) if line.strip() else None, line
        except json.JSONDecodeError as exc:
            yield n, SchemaError(f"broken JSON at column {exc.colno}: {exc.msg}", path=str(path), line=n), line


def from_backend(
    text_labels: str | Path | Iterable[dict] | None = None,
    reactions: str | Path | Iterable[dict] | None = None,
    *,
    scale: tuple[float, float] | None = None,
    lenient: bool = False,
) -> Annotations:
    """Votes and rankings from the Open-Assistant backend's per-user rows, exported as JSON lines.

    ``text_labels``: rows of the ``text_labels`` table (``message_id``, ``user_id``, ``labels`` as
    ``{name: value}``, ``created_date``): one vote per (row, label). ``reactions``: rows of
    ``message_reaction`` whose payload is a ``RankingReactionPayload`` (``ranked_message_ids``
    best first, ``ranking_parent_id``; the row's ``message_id`` is the parent too): one ranking
    per row; other payload types are skipped, and a ranking marked ``not_rankable`` is kept. The
    payload's ``ranking`` (indices into the replies as displayed) gives ``as_displayed``: True when
    the ranker kept the order shown.
    """
    out = Annotations()
    if text_labels is not None:
        out = out | _backend_labels(text_labels, lenient, scale)
    if reactions is not None:
        out = out | _backend_rankings(reactions, lenient)
    return out


def _located(source: str, line: int, field_name: str | None, detail: str, raw: str, lenient: bool, bad: list) -> None:
    if not lenient:
        raise SchemaError(detail, path=source, line=line, field=field_name)
    bad.append(dict(source=source, line=line, field=field_name, detail=detail, raw=raw))


def _parsed(name: str, records: Iterator[tuple[int, Any, str]], lenient: bool, bad: list):
    """(line, record, text) of each non-blank line; an unparsable line is located (or set aside) here."""
    for n, rec, raw in records:
        if isinstance(rec, SchemaError):
            _located(name, n, None, rec.detail, raw, lenient, bad)
        elif rec is not None:
            yield n, rec, raw


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _refused_label(labels: dict, scale: tuple[float, float] | None) -> tuple[Any, str] | None:
    """A record's first label whose value its rule refuses (:func:`value_problem`), and why; or None."""
    for k, v in labels.items():
        if problem := value_problem(str(k), float(v), scale):
            return k, problem
    return None


def _backend_labels(source, lenient: bool, scale: tuple[float, float] | None = None) -> Annotations:
    _scale(scale)
    name, records = _records(source)
    # one entry per row for its message, user and time, one per vote for the label and value: the
    # row's entries are repeated once the file is read (a tuple per vote held 3x the memory at 10x)
    items, who, times, counts, names, bad = [], [], [], [], [], []
    values, label_names = array("d"), {}  # one string object per label name, not one per vote
    for n, rec, raw in _parsed(name, records, lenient, bad):
        labels = rec.get("labels") if isinstance(rec, dict) else None
        mid, uid = (rec.get("message_id"), rec.get("user_id")) if isinstance(rec, dict) else (None, None)
        if not isinstance(labels, dict):
            _located(name, n, "labels", "expected {name: value}", raw, lenient, bad)
        elif _missing(mid):
            _located(name, n, "message_id", "missing message id", raw, lenient, bad)
        elif _missing(uid):
            _located(name, n, "user_id", "missing user id", raw, lenient, bad)
        elif not all(map(_number, labels.values())):
            culprit = next(k for k, v in labels.items() if not _number(v))
            _located(name, n, f"labels.{culprit}", "label value is not a number", raw, lenient, bad)
        elif problem := _id_problem(mid):
            _located(name, n, "message_id", problem, raw, lenient, bad)
        elif problem := _id_problem(uid):
            _located(name, n, "user_id", problem, raw, lenient, bad)
        elif refused := _refused_label(labels, scale):
            _located(name, n, f"labels.{refused[0]}", refused[1], raw, lenient, bad)
        elif labels:
            items.append(str(mid))
            who.append(str(uid))
            times.append(rec.get("created_date"))
            counts.append(len(labels))
            names += [label_names.setdefault(k, str(k)) for k in labels]
            values.extend(map(float, labels.values()))
    if not items:
        frame = pd.DataFrame([], columns=["item", "annotator", "label", "value", "time"])
        frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    else:
        row = np.repeat(np.arange(len(items)), counts)  # each vote's row
        stamps = pd.to_datetime(pd.Series(times), utc=True, errors="coerce", format="ISO8601")
        frame = pd.DataFrame(
            {
                "item": pd.Series(items).take(row).reset_index(drop=True),
                "annotator": pd.Series(who).take(row).reset_index(drop=True),
                "label": pd.Series(names),
                "value": np.frombuffer(values, dtype=float),
                "time": stamps.take(row).reset_index(drop=True),
            }
        )
    votes = frame.assign(count=1)
    return Annotations(votes=votes[list(VOTE_COLUMNS)], rejected=pd.DataFrame(bad, columns=list(REJECTED_COLUMNS)))


def _backend_rankings(source, lenient: bool) -> Annotations:
    name, records = _records(source)
    rows, bad = [], []
    for n, rec, raw in _parsed(name, records, lenient, bad):
        payload = rec.get("payload") if isinstance(rec, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("payload"), dict):
            payload = payload["payload"]  # the backend's PayloadContainer wraps the payload once more
        if not isinstance(payload, dict) or payload.get("type") not in (None, "message_ranking"):
            continue  # ratings and other reactions carry no ranking
        ids = payload.get("ranked_message_ids")
        parent = payload.get("ranking_parent_id") or rec.get("message_id")
        if not isinstance(ids, list) or not ids:
            _located(name, n, "payload.ranked_message_ids", "expected a list of message ids", raw, lenient, bad)
        elif len(set(map(str, ids))) < len(ids):
            _located(name, n, "payload.ranked_message_ids", "an id appears twice", raw, lenient, bad)
        elif _missing(parent):
            _located(name, n, "payload.ranking_parent_id", "missing parent id", raw, lenient, bad)
        elif _missing(rec.get("user_id")):
            _located(name, n, "user_id", "missing user id", raw, lenient, bad)
        elif problem := _id_problem(parent, rec.get("user_id"), *map(str, ids)):
            _located(name, n, "payload", problem, raw, lenient, bad)
        else:
            order = payload.get("ranking")
            shown = order == list(range(len(ids))) if isinstance(order, list) else None
            rows.append((str(parent), str(rec["user_id"]), tuple(map(str, ids)), rec.get("created_date"), shown))
    frame = pd.DataFrame(rows, columns=["group", "annotator", "ranking", "time", "as_displayed"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce", format="ISO8601")
    return Annotations(rankings=frame, rejected=pd.DataFrame(bad, columns=list(REJECTED_COLUMNS)))


# --------------------------------------------------------------------------- Label Studio

_YES_NO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}


def from_label_studio(
    source: str | Path | list[dict],
    *,
    item_field: str = "message_id",
    choice_values: dict[str, float] | None = None,
    scale: tuple[float, float] | None = None,
    lenient: bool = False,
) -> Annotations:
    """Votes and rankings from a Label Studio JSON export (the list of tasks with ``annotations``).

    Each annotation's ``completed_by`` (an id, or an object with ``id``) is the annotator, and the
    task's ``data[item_field]`` (else the task ``id``) the item. Result types:

    * ``choices``: a vote under the control's name (``from_name``); a choice becomes a number by
      ``choice_values``, else yes/no/true/false as 1/0, else the choice text read as a number;
    * ``rating``: a vote with the rating as given (rescale it yourself if the scale should be 0-1);
    * ``pairwise``: a vote of 0 (left selected) or 1 (right);
    * ``ranker`` without buckets: a ranking of the list item ids in the order saved, grouped by the
      item. Bucketed rankers are not orders and are set aside.

    Cancelled annotations are skipped; other result types (regions, text areas) are ignored. A
    control named like an OASST label keeps the export's rules (:func:`value_problem`; ``scale``
    declares a Likert scale other than [0, 1]).
    """
    _scale(scale)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise SchemaError("file not found" if not path.exists() else "is a folder; give a file", path=str(path))
        try:
            tasks = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", path=str(path)
            ) from None
        name = str(path)
    else:
        tasks, name = list(source), "tasks"
    if not isinstance(tasks, list):
        raise SchemaError("a Label Studio export is a JSON list of tasks", path=name)
    mapping = {k.lower(): float(v) for k, v in (choice_values or {}).items()}
    votes, rankings, bad = [], [], []
    for t, task in enumerate(tasks, start=1):
        where = f"task {t}"
        if not isinstance(task, dict):
            _located(name, t, None, f"{where} is not an object", json.dumps(task, default=str), lenient, bad)
            continue
        data = task.get("data") or {}
        item = data.get(item_field, task.get("id"))
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            who = annotation.get("completed_by")
            who = who.get("id", who.get("email")) if isinstance(who, dict) else who
            when = annotation.get("created_at")
            for result in annotation.get("result") or []:
                kind, control, value = result.get("type"), result.get("from_name"), result.get("value") or {}
                raw = json.dumps(result, default=str)
                try:
                    if _missing(item) or _missing(who):
                        raise UsageError("missing item id or completed_by")
                    if problem := _id_problem(str(item), str(who)):
                        raise UsageError(problem)
                    n_votes = len(votes)
                    if kind == "choices":
                        chosen = value.get("choices") or []
                        if len(chosen) != 1:
                            raise UsageError(f"expected one choice, got {len(chosen)}")
                        text = str(chosen[0]).strip().lower()
                        number = mapping.get(text, _YES_NO.get(text))
                        votes.append(
                            (str(item), str(who), str(control), number if number is not None else float(text), when)
                        )
                    elif kind == "rating":
                        votes.append((str(item), str(who), str(control), float(value["rating"]), when))
                    elif kind == "pairwise":
                        side = {"left": 0.0, "right": 1.0}[value["selected"]]
                        votes.append((str(item), str(who), str(control), side, when))
                    elif kind == "ranker":
                        order = value.get("ranker") or {}
                        if len(order) != 1:
                            raise UsageError("a bucketed ranker is not an order")
                        ids = tuple(map(str, next(iter(order.values()))))
                        if problem := _id_problem(*ids):
                            raise UsageError(problem)
                        rankings.append((str(item), str(who), ids, when))
                    if len(votes) > n_votes and (problem := value_problem(str(control), votes[-1][3], scale)):
                        votes.pop()
                        raise UsageError(problem)
                except (ValueError, KeyError, TypeError) as exc:
                    _located(name, t, f"{where}.{control}", f"unreadable {kind} result ({exc})", raw, lenient, bad)
    vote_frame = pd.DataFrame(votes, columns=["item", "annotator", "label", "value", "time"])
    vote_frame = vote_frame.assign(count=1, time=pd.to_datetime(vote_frame["time"], utc=True, errors="coerce"))
    ranking_frame = pd.DataFrame(rankings, columns=["group", "annotator", "ranking", "time"])
    ranking_frame["time"] = pd.to_datetime(ranking_frame["time"], utc=True, errors="coerce")
    return Annotations(
        votes=vote_frame[list(VOTE_COLUMNS)],
        rankings=ranking_frame,
        rejected=pd.DataFrame(bad, columns=list(REJECTED_COLUMNS)),
    )


# --------------------------------------------------------------------------- against a Dataset


def check_items(
    annotations: Annotations, message_ids: pd.Series, *, lenient: bool = False, source: str = "annotations"
) -> Annotations:
    """Keep the rows whose items (votes) and groups and items (rankings) are in ``message_ids`` (the
    dataset's messages).

    An unknown id is a :class:`~oasst_quality.errors.SchemaError` naming ``source`` (the file the
    annotations came from), the row of the votes or rankings table and the id; with ``lenient=True``
    the row is set aside in ``rejected``, raw.
    """
    from .consensus import ballot_rows

    v, r = annotations.votes, annotations.rankings
    # each run of equal neighbours once: a votes table lists an item's votes together, a rankings
    # table a reply set's rankings (and its rankers often agree)
    item_runs, group_runs, ranking_runs = (_runs(x) for x in (v["item"], r["group"], r["ranking"]))
    ranked_row, ranked_id, _ = ballot_rows(r["ranking"].iloc[ranking_runs[0]])
    found_items, found_groups, found_ids = _isin(
        [v["item"].iloc[item_runs[0]], r["group"].iloc[group_runs[0]], pd.Series(ranked_id, dtype=object)],
        pd.Index(message_ids),
    )
    bad_votes = np.repeat(~found_items, item_runs[1])
    bad_groups = np.repeat(~found_groups, group_runs[1])
    naming = np.bincount(ranked_row[~found_ids], minlength=len(ranking_runs[0])) > 0
    bad_items = np.repeat(naming, ranking_runs[1])  # a ranking naming an unknown message
    problems = [
        (v, bad_votes, "item", "votes", "item is not a message of the dataset"),
        (r, bad_groups, "group", "rankings", "group is not a message of the dataset"),
        (r, bad_items & ~bad_groups, "ranking", "rankings", "ranking names a message that is not in the dataset"),
    ]
    rejected = [annotations.rejected]
    for frame, mask, field_name, table, detail in problems:
        if not mask.any():
            continue
        if not lenient:
            i = int(np.flatnonzero(mask)[0])
            raise SchemaError(
                f"row {i + 1} of its {table} table: {detail}: {frame.iloc[i][field_name]!r:.80} "
                "(check that the annotations belong to this export, or use --lenient to set such rows aside)",
                path=source,
                field=field_name,
            )
        rejected.append(
            pd.DataFrame(
                {
                    "source": source,
                    "line": np.flatnonzero(mask) + 1,
                    "field": field_name,
                    "detail": detail,
                    "raw": [json.dumps(rec, default=str) for rec in frame[mask].to_dict(orient="records")],
                }
            )
        )
    return Annotations(
        votes=v[~bad_votes].reset_index(drop=True),
        rankings=r[~(bad_groups | bad_items)].reset_index(drop=True),
        rejected=pd.concat([x for x in rejected if len(x)], ignore_index=True)
        if any(len(x) for x in rejected)
        else annotations.rejected,
    )


def _runs(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(where each run of equal neighbours begins, its length) of a column; each row its own run
    where the column is not of objects, or its objects cannot be compared so (pd.NA)."""
    x = values.to_numpy()
    starts = run_starts(x) if values.dtype == object and len(x) > 1 else None
    if starts is None:
        starts = np.arange(len(x))
    return starts, np.diff(np.append(starts, len(x)))


def _isin(columns: list[pd.Series], known: pd.Index) -> list[np.ndarray]:
    """``column.isin(known)`` of each column, as arrays; where all are columns of objects, one
    ``isin`` of them together (one hash table of ``known``)."""
    if not all(c.dtype == object for c in columns):
        return [c.isin(known).to_numpy() for c in columns]
    found = pd.Series(np.concatenate([c.to_numpy() for c in columns]), dtype=object).isin(known).to_numpy()
    return np.split(found, np.cumsum([len(c) for c in columns[:-1]]))


def read(path: str | Path, *, scale: tuple[float, float] | None = None, lenient: bool = False) -> Annotations:
    """Votes or rankings from one file, whichever it holds.

    A ``.json`` file is a Label Studio export; JSON lines whose records carry ``labels`` are the
    backend's ``text_labels`` rows, and records with a ``payload`` its reactions; any other file is
    a long table, read as rankings when it has a ``ranking`` column and as votes otherwise.
    """
    p = Path(path)
    if p.name.lower().endswith(".json") and p.is_file():  # a Label Studio export: a list of tasks
        return from_label_studio(p, scale=scale, lenient=lenient)
    if p.name.lower().endswith((".jsonl", ".jsonl.gz")) and p.is_file():
        first = _first_record(p)
        if "labels" in first:
            return from_backend(text_labels=p, scale=scale, lenient=lenient)
        if "payload" in first:
            return from_backend(reactions=p, lenient=lenient)
    frame, name, lines = _table(p)
    if "ranking" in frame.columns:
        return _rankings(frame, name, lines, None, None, "ranking", None, lenient)
    return _votes(frame, name, lines, None, None, None, None, None, "label", scale, lenient)


def _first_record(path: Path) -> dict:
    """The first JSON object of a JSON lines file, read up to it and no further: which rows the file holds."""
    with closing(_file_records(path)) as records:
        return next((record for _, record, _ in records if isinstance(record, dict)), {})
