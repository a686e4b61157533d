"""Reward model and label-noise study: what annotation noise costs a model trained on the preferences.

Pairs come from a Dataset's rankings (:func:`preference_data`), a small transformers encoder with a
scalar head learns them with the Bradley-Terry loss (:func:`train_reward_model`; or, with the
encoder frozen, :func:`embed_texts` once and :func:`train_head` per run), and
:func:`noise_study` retrains under controlled noise to draw accuracy against noise beside the
ceiling that a measured agreement implies. torch and transformers load only when these run.
"""

from .data import planted_pairs, preference_data, split_by_group
from .frozen import FrozenHead, embed_texts, train_head
from .margins import cross_fitted_margins, pair_embeddings, tree_folds
from .noise import (
    accuracy_from_agreement,
    flip_close,
    flip_uniform,
    likert_noise_pairs,
    rankings_agreement,
    spam_annotators,
)
from .study import NoiseStudyResult, noise_study
from .train import TrainResult, pair_correct, pairwise_accuracy, ranking_tau, train_reward_model

__all__ = [
    "FrozenHead",
    "NoiseStudyResult",
    "TrainResult",
    "accuracy_from_agreement",
    "cross_fitted_margins",
    "embed_texts",
    "flip_close",
    "flip_uniform",
    "likert_noise_pairs",
    "noise_study",
    "pair_correct",
    "pair_embeddings",
    "pairwise_accuracy",
    "planted_pairs",
    "preference_data",
    "ranking_tau",
    "rankings_agreement",
    "spam_annotators",
    "split_by_group",
    "train_head",
    "train_reward_model",
    "tree_folds",
]
