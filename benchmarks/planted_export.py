"""A backend-style per-user export of the bundled sample, with planted annotators whose truth is known.

Votes (the backend's ``text_labels`` rows): each labelled message gets 3 annotators out of 8. Six
are honest: a Likert vote is the published mean plus N(0, 0.15) noise, rounded to the grid; a flag
vote is 1 with the published yes share. ``rand-1`` answers uniformly at random; ``zero-1`` answers
0 to everything (the backend's default for an unanswered label).

Rankings (``message_reaction`` rows with a ranking payload): each ranked reply set gets 3 rankers
out of 6. Four are honest and give the export's order (with probability ``swap`` one adjacent pair
swapped); ``rev-1`` gives it reversed; ``lazy-1`` keeps the order in which the replies were shown
(a random order per task).

    python benchmarks/planted_export.py OUT_DIR   # writes text_labels.jsonl and reactions.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import oasst_quality as oq
from oasst_quality import adapter
from oasst_quality.schema import LIKERT_GRID, label_kind

HONEST_LABELLERS = [f"lab-{i}" for i in range(1, 7)]
HONEST_RANKERS = [f"rank-{i}" for i in range(1, 5)]
PLANTED = {
    "rand-1": "random_answering",
    "zero-1": "constant_answering",
    "rev-1": "reversed_rankings",
    "lazy-1": "copies_displayed_order",
}


def text_labels_row(rng: np.random.Generator, mid: str, means: dict, who: str) -> dict:
    """One labeller's ``text_labels`` row for a message whose published label means are ``means``."""
    labels = {}
    for name, mean in means.items():
        if label_kind(name) == "flag":
            value = float(rng.random() < mean) if who != "rand-1" else float(rng.integers(0, 2))
        else:
            value = LIKERT_GRID[np.abs(LIKERT_GRID - (mean + rng.normal(0, 0.15))).argmin()]
            value = float(rng.choice(LIKERT_GRID)) if who == "rand-1" else float(value)
        labels[name] = 0.0 if who == "zero-1" else value
    return {"message_id": mid, "user_id": str(who), "labels": labels}


def reaction_row(rng: np.random.Generator, group: str, order: list, who: str, swap: float) -> dict:
    """One ranker's ranking reaction for the reply set ``group`` whose export order is ``order``."""
    shown = [order[i] for i in rng.permutation(len(order))]  # the order the task displayed
    if who == "rev-1":
        ranked = order[::-1]
    elif who == "lazy-1":
        ranked = shown
    else:
        ranked = list(order)
        if rng.random() < swap and len(ranked) > 1:
            i = int(rng.integers(0, len(ranked) - 1))
            ranked[i], ranked[i + 1] = ranked[i + 1], ranked[i]
    payload = {
        "type": "message_ranking",
        "ranking": [shown.index(m) for m in ranked],
        "ranked_message_ids": ranked,
        "ranking_parent_id": group,
    }
    return {"message_id": group, "user_id": str(who), "payload": payload}


LABELLERS = [*HONEST_LABELLERS, "rand-1", "zero-1"]
RANKERS = [*HONEST_RANKERS, "rev-1", "lazy-1"]


def generate(dataset=None, *, seed: int = 0, swap: float = 0.05) -> tuple[list[dict], list[dict]]:
    """(text_labels rows, reaction rows) for ``dataset`` (default: the bundled sample)."""
    ds = dataset if dataset is not None else oq.load_sample()
    rng = np.random.default_rng(seed)
    truth = ds.labels.pivot_table(index="message_id", columns="label", values="value")
    text_labels = []
    for mid, row in truth.iterrows():
        row = row.dropna()
        for who in rng.choice(LABELLERS, 3, replace=False):
            text_labels.append(text_labels_row(rng, mid, row.to_dict(), who))
    reactions = []
    for group, ranking in zip(*adapter.rankings(ds)[["group", "ranking"]].to_numpy().T):
        for who in rng.choice(RANKERS, 3, replace=False):
            reactions.append(reaction_row(rng, group, list(ranking), who, swap))
    return text_labels, reactions


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "planted")
    out.mkdir(parents=True, exist_ok=True)
    labels, reactions = generate()
    for name, rows in (("text_labels.jsonl", labels), ("reactions.jsonl", reactions)):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(labels):,} text_labels rows and {len(reactions):,} reactions to {out}")


if __name__ == "__main__":
    main()
