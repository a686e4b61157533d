"""Small builders of OASST records for tests."""

import json


def msg(mid, parent=None, role="prompter", tree="t1", **fields):
    rec = {
        "message_id": mid,
        "parent_id": parent,
        "message_tree_id": tree,
        "role": role,
        "lang": "en",
        "text": f"text of {mid}",
        "rank": None,
    }
    rec.update(fields)
    return rec


def jsonl(records):
    return "".join(json.dumps(r) + "\n" for r in records)
