"""Reward model and label-noise study: what annotation noise costs a model trained on the preferences.

Pairs come from a Dataset's rankings (:func:`preference_data`), a small transformers encoder with a
scalar head learns them with the Bradley-Terry loss (:func:`train_reward_model`), and
:func:`noise_study` retrains under controlled noise to draw accuracy against noise beside the
ceiling that a measured agreement implies. torch and transformers load only when these run.
"""

from .data import preference_data, split_by_group
from .noise import accuracy_from_agreement, flip_close, flip_uniform, likert_noise_pairs, spam_annotators
from .study import NoiseStudyResult, noise_study
from .train import TrainResult, pairwise_accuracy, ranking_tau, train_reward_model

__all__ = [
    "NoiseStudyResult",
    "TrainResult",
    "accuracy_from_agreement",
    "flip_close",
    "flip_uniform",
    "likert_noise_pairs",
    "noise_study",
    "pairwise_accuracy",
    "preference_data",
    "ranking_tau",
    "spam_annotators",
    "split_by_group",
    "train_reward_model",
]
