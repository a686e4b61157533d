"""OASST-scale synthetic export, calibrated on the real samples.

Tree shapes (parent links, roles, ranks, so depth and branching) are resampled from the real
``ready_for_export`` trees of the bundled sample; prompt-only trees make up the rest, in the
proportion that gives oasst1's full size (161,443 messages in 66,497 trees). Languages follow the
multilingual OASST2 sample's mix; texts, labels and Detoxify scores are resampled per role from
the real messages; contributors follow a Zipf law over 13,500 volunteers (``--users``).

    python benchmarks/synthetic.py OUT.jsonl [--messages 161443 --trees 66497 --seed 0 --users 13500]
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import networkx as nx
import numpy as np
import orjson
import pandas as pd

import oasst_quality as oq

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
N_MESSAGES, N_TREES, N_USERS = 161_443, 66_497, 13_500
STATES_SINGLE = ["initial_prompt_review", "prompt_lottery_waiting", "aborted_low_grade", "growing"]


def _language_mix() -> tuple[list[str], np.ndarray]:
    path = SHARED / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz"
    if path.exists():
        counts = oq.load(path, lenient=True).messages["lang"].value_counts()
    else:  # oasst1 paper: English and Spanish dominate
        counts = pd.Series({"en": 0.45, "es": 0.29, "ru": 0.08, "de": 0.05, "zh": 0.04, "fr": 0.04, "other": 0.05})
    return counts.index.tolist(), (counts / counts.sum()).to_numpy()


def _shapes(ds: oq.Dataset) -> list[dict]:
    """Each real complete tree as arrays in depth-first order: parent position, role, rank."""
    shapes = []
    for _tree_id, g in ds.forest.graphs():
        roots = [n for n, d in g.in_degree() if d == 0]
        if len(roots) != 1 or g.nodes[roots[0]]["parent_id"] is not None:
            continue  # skip trees with orphans
        order = [roots[0], *[v for _, v in nx.dfs_edges(g, roots[0])]]
        pos = {n: i for i, n in enumerate(order)}
        shapes.append(
            {
                "parent": np.array([pos.get(g.nodes[n]["parent_id"], -1) for n in order]),
                "role": np.array([g.nodes[n]["role"] for n in order], dtype=object),
                "rank": np.array([-1 if pd.isna(g.nodes[n]["rank"]) else g.nodes[n]["rank"] for n in order]),
            }
        )
    return shapes


def generate(n_messages: int = N_MESSAGES, n_trees: int = N_TREES, seed: int = 0, n_users: int = N_USERS) -> list[dict]:
    rng = np.random.default_rng(seed)
    ds = oq.load_sample()
    shapes = _shapes(ds)
    sizes = np.array([len(s["parent"]) for s in shapes])
    extra_needed = n_messages - n_trees  # messages beyond one per tree
    picks = rng.integers(0, len(shapes), size=int(4 * extra_needed / max(sizes.mean() - 1, 1)) + 16)
    cum = np.cumsum(sizes[picks] - 1)
    n_full = int(np.searchsorted(cum, extra_needed)) + 1
    picks = picks[:n_full]
    last_size = sizes[picks[-1]] - (cum[n_full - 1] - extra_needed)
    langs, lang_p = _language_mix()
    msgs = ds.messages.set_index("message_id")
    label_pool = ds.labels.groupby("message_id").agg(list)
    detox_pool = ds.detoxify.groupby("message_id").agg(list)
    pools = {role: msgs.index[msgs["role"] == role].to_numpy() for role in ("prompter", "assistant")}
    texts = msgs["text"].to_dict()
    user_weights = 1.0 / np.arange(1, n_users + 1) ** 1.1
    users = [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, size=n_users)]

    out: list[dict] = []
    tree_shapes = [(shapes[p], sizes[p]) for p in picks[:-1]] + [(shapes[picks[-1]], int(last_size))]
    tree_shapes += [({"parent": np.array([-1]), "role": np.array(["prompter"]), "rank": np.array([-1])}, 1)] * (
        n_trees - n_full
    )
    tree_langs = rng.choice(len(langs), size=n_trees, p=lang_p)
    user_idx = rng.choice(n_users, size=n_messages, p=user_weights / user_weights.sum())
    k = 0
    for t, (shape, size) in enumerate(tree_shapes):
        ids = [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, size=size)]
        full = size > 1 or t < n_full
        state = "ready_for_export" if full else STATES_SINGLE[t % len(STATES_SINGLE)]
        for i in range(size):
            role = shape["role"][i]
            src = pools[role][rng.integers(0, len(pools[role]))]
            rank = int(shape["rank"][i])
            lab = label_pool.loc[src] if src in label_pool.index else None
            det = detox_pool.loc[src] if src in detox_pool.index else None
            out.append(
                {
                    "message_id": ids[i],
                    "parent_id": ids[shape["parent"][i]] if shape["parent"][i] >= 0 else None,
                    "user_id": users[user_idx[k]],
                    "created_date": "2023-02-07T17:29:24.727400+00:00",
                    "text": texts[src],
                    "role": role,
                    "lang": langs[tree_langs[t]],
                    "review_count": 3,
                    "review_result": True,
                    "deleted": False,
                    "rank": rank if rank >= 0 else None,
                    "synthetic": False,
                    "model_name": None,
                    "detoxify": dict(zip(det["head"], det["score"])) if det is not None else None,
                    "message_tree_id": ids[0],
                    "tree_state": state,
                    "emojis": None,
                    "labels": {"name": lab["label"], "value": lab["value"], "count": [int(c) for c in lab["count"]]}
                    if lab is not None
                    else None,
                }
            )
            k += 1
    return out


def write(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--messages", type=int, default=N_MESSAGES)
    parser.add_argument("--trees", type=int, default=N_TREES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=N_USERS, help="contributor pool (Zipf-distributed work)")
    a = parser.parse_args()
    records = generate(a.messages, a.trees, a.seed, a.users)
    write(a.out, records)
    print(f"wrote {len(records)} messages in {len({r['message_tree_id'] for r in records})} trees to {a.out}")


if __name__ == "__main__":
    main()
