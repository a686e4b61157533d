"""What the OASST schema allows: roles, tree states, the label catalog and the Likert grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

ROLES: tuple[str, ...] = ("prompter", "assistant")

TREE_STATES: tuple[str, ...] = (
    "initial_prompt_review",
    "prompt_lottery_waiting",
    "growing",
    "ready_for_scoring",
    "ready_for_export",
    "scoring_failed",
    "aborted_low_grade",
    "halted_by_moderator",
    "backlog_ranking",
)

#: The five points of an OASST Likert label (1 always means more of the named property).
LIKERT_GRID: np.ndarray = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


@dataclass(frozen=True)
class LabelSpec:
    """One OASST label: its name, its kind and the roles whose messages carry it."""

    name: str
    kind: Literal["flag", "likert"]
    roles: tuple[str, ...] = ROLES


_BOTH = ROLES
_ASSISTANT = ("assistant",)

#: The labels of the OASST labelling forms (Köpf et al. 2023, appendix; backend `TextLabel`).
LABELS: dict[str, LabelSpec] = {
    spec.name: spec
    for spec in (
        LabelSpec("spam", "flag"),
        LabelSpec("fails_task", "flag", _ASSISTANT),
        LabelSpec("lang_mismatch", "flag"),
        LabelSpec("pii", "flag"),
        LabelSpec("not_appropriate", "flag"),
        LabelSpec("hate_speech", "flag"),
        LabelSpec("sexual_content", "flag"),
        LabelSpec("moral_judgement", "flag"),
        LabelSpec("political_content", "flag"),
        LabelSpec("quality", "likert"),
        LabelSpec("toxicity", "likert"),
        LabelSpec("humor", "likert"),
        LabelSpec("helpfulness", "likert", _ASSISTANT),
        LabelSpec("creativity", "likert"),
        LabelSpec("violence", "likert"),
    )
}

FLAG_LABELS: tuple[str, ...] = tuple(n for n, s in LABELS.items() if s.kind == "flag")
LIKERT_LABELS: tuple[str, ...] = tuple(n for n, s in LABELS.items() if s.kind == "likert")

#: Detoxify heads stored in the export's `detoxify` field.
DETOXIFY_HEADS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)

#: Columns of :attr:`Dataset.messages`, in order, before any extra fields the file carries.
MESSAGE_COLUMNS: tuple[str, ...] = (
    "message_id",
    "parent_id",
    "message_tree_id",
    "role",
    "lang",
    "text",
    "user_id",
    "created_date",
    "review_count",
    "review_result",
    "deleted",
    "synthetic",
    "rank",
    "model_name",
    "tree_state",
    "depth",
)

#: Fields of a message record that the loader interprets itself (everything else is kept as extra).
KNOWN_FIELDS: frozenset[str] = frozenset(MESSAGE_COLUMNS) | {
    "labels",
    "emojis",
    "detoxify",
    "replies",
}


def label_kind(name: str) -> str:
    """Kind of a label name: ``"flag"``, ``"likert"``, or ``"unknown"`` for names outside the catalog."""
    spec = LABELS.get(name)
    return spec.kind if spec else "unknown"
