"""Exceptions raised by oasst_quality; all derive from :class:`OasstQualityError`."""

from __future__ import annotations

from pathlib import Path


class OasstQualityError(Exception):
    """Base class for every error this library raises on purpose."""


class SchemaError(OasstQualityError, ValueError):
    """A record in an input file could not be read or does not fit the OASST schema.

    Carries the file, the 1-based line (or row, for parquet) and the offending field, so a
    curator can open the file at the right place.
    """

    def __init__(
        self,
        detail: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        kind: str = "schema_error",
    ) -> None:
        self.detail = detail
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.kind = kind
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {detail}" if prefix else detail)

    def __reduce__(self):
        # the location travels too when the error crosses processes (a Dask worker's load)
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type, args: tuple, state: dict) -> Exception:
    err = Exception.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class FormatError(SchemaError):
    """The file as a whole is not an OASST export (empty, truncated, a JSON array, not UTF-8...)."""

    def __init__(self, detail: str, *, path: str | Path | None = None, line: int | None = None):
        super().__init__(detail, path=path, line=line, kind="parse_error")


class NotComputableError(OasstQualityError):
    """The statistic asked for cannot be computed from the data given (e.g. too few values)."""


class UsageError(OasstQualityError, ValueError):
    """An argument or setting that cannot be used (out of range, the wrong kind, a missing column)."""


class ColumnsError(UsageError):
    """A table lacks the columns an analysis needs; names what is missing and what is there."""

    def __init__(self, missing: list[str], have: list[str]) -> None:
        self.missing, self.have = missing, have
        super().__init__(
            f"columns {missing} not in the table (it has {have}); name them with item=, annotator=, value="
        )
