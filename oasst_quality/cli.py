"""`oasst-quality`: one thin command per analysis, each with ``--json``.

Every command takes an optional PATH (default: the bundled sample) and ``--lenient``; the work
itself is done by the public API.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .errors import OasstQualityError
from .io import load, sample_path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if obj is pd.NA or obj is None:
        return None
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    return obj


def _emit(args: argparse.Namespace, payload: dict, text: Callable[[dict], str]) -> None:
    if args.json:
        json.dump(_jsonable(payload), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text(payload).rstrip() + "\n")


def _table(rows: dict | pd.DataFrame, title: str = "") -> str:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows.items()), columns=["", "n"])
    body = frame.to_string(index=False) if len(frame) else "(none)"
    return f"{title}\n{body}\n" if title else body + "\n"


def _load(args: argparse.Namespace):
    return load(args.path or sample_path(), lenient=args.lenient)


# --------------------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> None:
    ds = _load(args)
    stats = ds.forest.stats()
    payload = {
        "source": ds.source,
        "form": ds.form,
        "records_read": ds.records_read,
        "records_loaded": ds.records_loaded,
        "forest": stats.to_dict(),
        "problems": ds.problem_counts(),
    }

    def text(p: dict) -> str:
        f = p["forest"]
        return (
            f"{p['source']} ({p['form']}): {p['records_loaded']}/{p['records_read']} records loaded\n"
            f"{f['n_messages']} messages in {f['n_trees']} trees; {f['n_threads']} threads; "
            f"max depth {f['max_depth']}; "
            f"{f['n_sibling_groups']} sibling groups ({f['n_ranked_sibling_groups']} ranked)\n"
            + _table(f["by_role"], "by role")
            + _table(f["by_lang"], "by language")
            + _table(p["problems"], "problems")
        )

    _emit(args, payload, text)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "info": (cmd_info, "structure of an export: trees, roles, languages, problems"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oasst-quality", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("path", nargs="?", help="OASST export (default: the bundled sample)")
        p.add_argument("--lenient", action="store_true", help="skip unreadable records and report them")
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        for extra in EXTRA_ARGS.get(name, ()):
            extra(p)
        p.set_defaults(func=func)
    return parser


EXTRA_ARGS: dict[str, Sequence[Callable[[argparse.ArgumentParser], Any]]] = {}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except OasstQualityError as exc:
        print(f"oasst-quality: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
