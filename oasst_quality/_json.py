"""JSON for nesting deeper than the C parsers allow, without recursion.

orjson refuses documents nested deeper than 1024 levels and ``json`` recurses once per level, so a
conversation tree of a few hundred messages in a chain (each message is two levels: the object and
its ``replies`` list) cannot be read or written by either. These two functions keep an explicit
stack instead; they are slower and only used for the lines the fast parser refuses.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any

_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
      (?P<s>")
    | (?P<n>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    | (?P<l>true|false|null)
    | (?P<p>[{}\[\]:,])
    )""",
    re.VERBOSE,
)
_LITERALS = {"true": True, "false": False, "null": None}


class DeepJSONError(ValueError):
    """Broken JSON, with the 1-based column where reading stopped."""

    def __init__(self, msg: str, column: int) -> None:
        self.msg, self.colno = msg, column
        super().__init__(f"{msg} at column {column}")


def loads(text: str) -> Any:
    """Parse one JSON document of any nesting depth (strict JSON: no NaN, no trailing commas)."""
    stack: list[list] = []  # [container, pending key]
    result: Any = None
    done = False
    expect = "value"  # value | value_or_close | key | key_or_close | colon | comma_or_close
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            rest = text[pos:]
            if done and not rest.strip():
                return result
            column = pos + len(rest) - len(rest.lstrip()) + 1
            raise DeepJSONError("extra data" if done else "expected a JSON value", column)
        if done:
            raise DeepJSONError("extra data", m.start(m.lastgroup) + 1)
        kind = m.lastgroup
        start = m.start(kind)
        if kind == "s":
            try:
                token, pos = scanstring(text, start + 1)
            except json.JSONDecodeError as exc:
                raise DeepJSONError(exc.msg, exc.colno) from None
        else:
            token, pos = m.group(kind), m.end()
        value: Any
        if expect in ("key", "key_or_close"):
            if kind == "s":
                stack[-1][1] = token
                expect = "colon"
                continue
            if not (token == "}" and expect == "key_or_close"):
                raise DeepJSONError("expected a property name in double quotes", start + 1)
            value = stack.pop()[0]
        elif expect == "colon":
            if token != ":" or kind != "p":
                raise DeepJSONError("expected ':'", start + 1)
            expect = "value"
            continue
        elif expect == "comma_or_close":
            top = stack[-1][0]
            if kind == "p" and token == ",":
                expect = "key" if isinstance(top, dict) else "value"
                continue
            if kind == "p" and token == ("}" if isinstance(top, dict) else "]"):
                value = stack.pop()[0]
            else:
                raise DeepJSONError(f"expected ',' or '{'}' if isinstance(top, dict) else ']'}'", start + 1)
        else:  # a value is expected
            if kind == "p":
                if token == "{":
                    stack.append([{}, None])
                    expect = "key_or_close"
                    continue
                if token == "[":
                    stack.append([[], None])
                    expect = "value_or_close"
                    continue
                if not (token == "]" and expect == "value_or_close"):
                    raise DeepJSONError("expected a JSON value", start + 1)
                value = stack.pop()[0]
            elif kind == "s":
                value = token
            elif kind == "l":
                value = _LITERALS[token]
            else:
                value = float(token) if any(c in token for c in ".eE") else int(token)
        if not stack:
            result, done = value, True
            continue
        top = stack[-1]
        if isinstance(top[0], dict):
            top[0][top[1]] = value
        else:
            top[0].append(value)
        expect = "comma_or_close"


def dumps_tree(record: dict, children: str = "replies") -> str:
    """Serialize nested records (each with a list under ``children``) without recursion.

    Each record's own fields are written by ``json.dumps`` (flat); the nesting is assembled from an
    explicit stack, with ``children`` written last.
    """
    parts: list[str] = []
    stack: list[tuple[dict, int]] = [(record, 0)]  # (record, index of the next child to write)
    while stack:
        rec, i = stack.pop()
        kids = rec.get(children) or []
        if i == 0:
            own = json.dumps({k: v for k, v in rec.items() if k != children}, ensure_ascii=False)
            parts.append(own[:-1] + (", " if len(own) > 2 else "") + json.dumps(children) + ": [")
        if i < len(kids):
            if i:
                parts.append(", ")
            stack.append((rec, i + 1))
            stack.append((kids[i], 0))
        else:
            parts.append("]}")
    return "".join(parts)
