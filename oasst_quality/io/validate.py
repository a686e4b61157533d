"""The OASST schema check of one record: a parsed line (a tree or a message) into validated messages.

:func:`record_messages` raises :class:`~oasst_quality.errors.SchemaError` with the field (the
caller adds the file and line); it builds no table and knows nothing of files.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pandas as pd

from ..errors import SchemaError
from ..schema import KNOWN_FIELDS, ROLES

STR_FIELDS = ("parent_id", "lang", "text", "user_id", "created_date", "model_name", "tree_state")
BOOL_FIELDS = ("review_result", "deleted", "synthetic")
INT_FIELDS = ("review_count", "rank")
#: The largest integer a table column holds (int64): a larger rank or count is refused, not overflowed.
INT64_MAX = 2**63 - 1

# Exact types (a JSON true is not a count, and 1 is not a string); None means absent.
_NONE = type(None)
_TYPED = {
    **{f: ({str, _NONE}, "a string") for f in STR_FIELDS},
    "created_date": ({str, _NONE, datetime, pd.Timestamp}, "an ISO 8601 date string"),
    **{f: ({bool, _NONE}, "true/false") for f in BOOL_FIELDS},
    **{f: ({int, _NONE}, "an integer") for f in INT_FIELDS},
}
_NUMBER = frozenset({int, float})
_STR = frozenset({str})
_COUNT = frozenset({int, _NONE})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 control characters (NUL, ESC, ...)


def whole(value: Any) -> Any:
    """A float that is a whole number as that integer (a typed table keeps an integer column with a
    gap, a label's or an emoji's count say, as floats); anything else as it is."""
    return int(value) if type(value) is float and value.is_integer() else value


def declared_type(field: str, value: Any) -> Any:
    """A float in a message's integer or true/false field (where a typed table kept the column as
    floats) as the export's type: a whole number in an integer field as that integer, 1.0/0.0 in a
    true/false field as true/false; anything else as it is, for the check to refuse."""
    if type(value) is float:
        if field in INT_FIELDS:
            return whole(value)
        if field in BOOL_FIELDS and value in (0.0, 1.0):
            return value == 1.0
    return value


def _too_large(value: int) -> str:
    return f"{value} does not fit in 64 bits (an integer from -2**63 to 2**63 - 1)"


def _fail(detail: str, field: str | None = None) -> SchemaError:
    return SchemaError(detail, field=field)


def _date(value: Any) -> datetime | None:
    """An ISO 8601 string (or a parquet timestamp) as a datetime; checked per record so that
    lenient mode can set aside the one record with a bad date."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)  # Python >= 3.11 reads every ISO 8601 form, "Z" included
    except ValueError:
        raise _fail(f"not an ISO 8601 date: {value!r:.60}", "created_date") from None


def _type_name(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def _check_id(value: Any, field: str) -> None:
    """An id holds no control character: a NUL or an escape in an id makes a second message (or
    annotator) that looks like the first."""
    if value is not None and not value.isprintable():  # isprintable: a fast test, slightly wider
        found = _CONTROL.search(value)
        if found:
            raise _fail(
                f"control character U+{ord(found.group()):04X} at position {found.start()} of the id {value!r:.60}",
                field,
            )


def _not_an_id(value: Any) -> str:
    if value is None or value == "":
        return "missing or empty message id"
    if type(value) is float and value == value and not value.is_integer():
        return (
            f"the id is a number that is not a whole number ({value!r}), so the string it was cannot be told; "
            "read the column as text (dtype=str)"
        )
    if type(value) is float and abs(value) >= 2**53:  # a typed table's smaller whole ids were read as strings
        return (
            f"the id is a whole number too large for a float to hold exactly ({value!r}, beyond 2**53), "
            "so the string it was cannot be told; read the column as text (dtype=str)"
        )
    return f"a message id must be a string, got {_type_name(value)}"


def _check_number(value: Any, field: str) -> float:
    if type(value) not in _NUMBER:
        raise _fail(f"expected a number, got {_type_name(value)}", field)
    return value


def _labels(obj: Any) -> tuple[list, list, list]:
    """Both label forms -> (names, values, counts); values must lie in [0, 1]."""
    if obj is None:
        return [], [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "labels")
    names = obj.get("name")
    if type(names) is list:  # Hugging Face parallel arrays
        values, counts = obj.get("value"), obj.get("count")
        if type(values) is not list or type(counts) is not list or not (len(names) == len(values) == len(counts)):
            raise _fail("parallel arrays name/value/count must be lists of equal length", "labels")
    else:  # raw export: {name: {value, count}}
        names, values, counts = list(obj), [], []
        for name, entry in obj.items():
            if type(entry) is not dict:
                raise _fail(f"expected {{value, count}}, got {entry!r:.60}", f"labels.{name}")
            values.append(entry.get("value"))
            counts.append(entry.get("count"))
    # Fast path: type sets and ranges at C speed (min and max skip a NaN; the sum does not); the slow
    # loop below only names the culprit.
    if (
        set(map(type, names)) <= _STR
        and set(map(type, values)) <= _NUMBER
        and set(map(type, counts)) <= _COUNT
        and (not values or (min(values) >= 0.0 and max(values) <= 1.0 and sum(values) == sum(values)))
        and all(c is None or 0 <= c <= INT64_MAX for c in counts)
        and len(set(names)) == len(names)
    ):
        return names, values, counts
    seen: set[str] = set()
    for name, value, count in zip(names, values, counts):
        if type(name) is not str:
            raise _fail(f"label name must be a string, got {name!r:.60}", "labels")
        if name in seen:
            raise SchemaError(
                f"label {name!r} given twice in one message (a message has one value per label)",
                field=f"labels.{name}",
                kind="duplicate_label",
            )
        seen.add(name)
        v = _check_number(value, f"labels.{name}.value")
        if not 0.0 <= v <= 1.0:
            raise _fail(f"label value {v} outside [0, 1]", f"labels.{name}.value")
        if count is not None and (type(count) is not int or count < 0):
            raise _fail(f"count must be a non-negative integer, got {count!r:.60}", f"labels.{name}.count")
        if count is not None and count > INT64_MAX:
            raise _fail(_too_large(count), f"labels.{name}.count")
    raise AssertionError("unreachable")  # pragma: no cover


def _emojis(obj: Any) -> tuple[list, list]:
    if obj is None:
        return [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "emojis")
    names = obj.get("name")
    if type(names) is list:
        counts = obj.get("count")
        if type(counts) is not list or len(counts) != len(names):
            raise _fail("parallel arrays name/count must be lists of equal length", "emojis")
    else:
        names, counts = list(obj), list(obj.values())
    for name, count in zip(names, counts):
        if type(count) is not int or count < 0:
            raise _fail(f"count must be a non-negative integer, got {count!r:.60}", f"emojis.{name}")
        if count > INT64_MAX:
            raise _fail(_too_large(count), f"emojis.{name}")
    return names, counts


def _detoxify(obj: Any) -> tuple[list, list]:
    if obj is None:
        return [], []
    if type(obj) is not dict:
        raise _fail(f"expected an object, got {type(obj).__name__}", "detoxify")
    heads, scores = list(obj), list(obj.values())
    if not set(map(type, scores)) <= _NUMBER or (scores and not (min(scores) >= 0.0 and max(scores) <= 1.0)):
        for head, score in obj.items():
            if not 0.0 <= _check_number(score, f"detoxify.{head}") <= 1.0:
                raise _fail(f"Detoxify score {score} outside [0, 1] (a probability)", f"detoxify.{head}")
    return heads, scores


class Message:
    """A validated message: its typed fields, extra fields, and its labels, emojis and scores."""

    __slots__ = ("detox", "emojis", "extra", "fields", "id", "labels")

    def __init__(self, fields: dict, extra: dict, labels: tuple, emojis: tuple, detox: tuple) -> None:
        self.fields, self.extra, self.labels, self.emojis, self.detox = fields, extra, labels, emojis, detox
        self.id: str = fields["message_id"]


def _message(rec: Any, *, tree_id: str | None, tree_state: str | None, parent: str | None, nested: bool) -> Message:
    if type(rec) is not dict:
        raise _fail(f"a message must be a JSON object, got {type(rec).__name__}")
    mid = rec.get("message_id")
    if type(mid) is not str or not mid:
        raise _fail(_not_an_id(mid), "message_id")
    get = rec.get
    fields: dict[str, Any] = {f: get(f) for f in _TYPED}
    for f, value in fields.items():
        if type(value) not in _TYPED[f][0]:
            raise _fail(f"expected {_TYPED[f][1]} or null, got {_type_name(value)}", f)
    _check_id(mid, "message_id")
    _check_id(fields["parent_id"], "parent_id")
    _check_id(fields["user_id"], "user_id")
    fields["message_id"] = mid
    fields["created_date"] = _date(rec.get("created_date"))
    if fields["rank"] is not None and fields["rank"] < 0:
        raise _fail(f"rank must be >= 0, got {fields['rank']}", "rank")
    for f in INT_FIELDS:
        if fields[f] is not None and not -INT64_MAX - 1 <= fields[f] <= INT64_MAX:
            raise _fail(_too_large(fields[f]), f)
    role = get("role")
    if role not in ROLES:
        if role is None and "text" not in rec and ("labels" in rec or "payload" in rec):
            raise _fail(
                "no role and no text: this looks like per-annotator votes or rankings (the backend's rows), not "
                "an export; give it with --annotations or --rankings, or as PATH to agreement, aggregate or consensus",
                "role",
            )
        raise _fail(f"unknown role {role!r:.40}; expected one of {', '.join(ROLES)}", "role")
    fields["role"] = role
    own_tree = get("message_tree_id")
    if own_tree is not None and type(own_tree) is not str:
        raise _fail(f"expected a string or null, got {_type_name(own_tree)}", "message_tree_id")
    _check_id(own_tree, "message_tree_id")
    if nested:
        if fields["parent_id"] is None:
            fields["parent_id"] = parent
        elif parent is not None and fields["parent_id"] != parent:
            raise _fail(
                f"parent_id {fields['parent_id']!r} differs from the message it is nested under ({parent!r})",
                "parent_id",
            )
        # A nested message whose own tree id contradicts its tree keeps it: forest reports the mismatch.
        fields["message_tree_id"] = own_tree or tree_id
        fields["tree_state"] = fields["tree_state"] or tree_state
    else:
        if own_tree is None:
            raise _fail("missing message tree id", "message_tree_id")
        fields["message_tree_id"] = own_tree
    extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS}
    return Message(fields, extra, _labels(get("labels")), _emojis(get("emojis")), _detoxify(get("detoxify")))


def _flatten(root: dict, *, tree_id: str | None, tree_state: str | None) -> list[Message]:
    """Depth-first list of validated messages of a nested tree."""
    out, stack = [], [(root, None)]
    while stack:
        rec, parent = stack.pop()
        msg = _message(rec, tree_id=tree_id, tree_state=tree_state, parent=parent, nested=True)
        out.append(msg)
        replies = rec.get("replies")
        if replies is None:
            continue
        if type(replies) is not list:
            raise _fail(f"expected a list of messages, got {type(replies).__name__}", "replies")
        stack.extend((child, msg.id) for child in reversed(replies))
    return out


def record_messages(obj: Any) -> tuple[str, list[Message], str | None]:
    """Validate one parsed record: (form ``trees`` or ``messages``, its messages, root id of a tree record)."""
    if type(obj) is not dict:
        raise _fail(f"each line must be a JSON object, got {type(obj).__name__}")
    if "prompt" in obj:
        tree_id = obj.get("message_tree_id")
        if type(tree_id) is not str or not tree_id:
            raise _fail("missing or empty tree id", "message_tree_id")
        _check_id(tree_id, "message_tree_id")
        state = obj.get("tree_state")
        if state is not None and type(state) is not str:
            raise _fail(f"expected a string or null, got {_type_name(state)}", "tree_state")
        prompt = obj["prompt"]
        if type(prompt) is not dict:
            raise _fail(f"expected the root message object, got {type(prompt).__name__}", "prompt")
        msgs = _flatten(prompt, tree_id=tree_id, tree_state=state)
        # Wrapper fields other than the tree's own (e.g. 'origin') belong to the root message.
        msgs[0].extra.update({k: v for k, v in obj.items() if k not in ("message_tree_id", "tree_state", "prompt")})
        return "trees", msgs, msgs[0].id
    if "replies" in obj:
        msgs = _flatten(obj, tree_id=obj.get("message_tree_id") or obj.get("message_id"), tree_state=None)
        return "trees", msgs, msgs[0].id
    return "messages", [_message(obj, tree_id=None, tree_state=None, parent=None, nested=False)], None
