"""The label-noise study: retrain under controlled noise and draw accuracy against the noise rate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .data import split_by_group
from .noise import accuracy_from_agreement, flip_close, flip_uniform, spam_annotators
from .train import pairwise_accuracy, train_reward_model

NOISES = {"uniform": flip_uniform, "close": flip_close, "spam": spam_annotators}


@dataclass
class NoiseStudyResult:
    """``runs``: one row per (rate, seed) with the clean test ``accuracy``; the fitted curve
    accuracy(p) = 1/2 + (a0 − 1/2)(1 − 2p) (label flips at rate p shrink the learnable signal by
    1 − 2p); and the ceiling a = (1 + sqrt(2q − 1))/2 that a measured pairwise agreement q implies."""

    runs: pd.DataFrame
    clean_accuracy: float
    curve_slope: float
    agreement: float | None
    ceiling: float | None
    noise: str
    n_train: int
    n_test: int
    pairs_per_second: float

    def curve(self, rates) -> np.ndarray:
        return 0.5 + (self.clean_accuracy - 0.5) * (1 - 2 * np.asarray(rates, dtype=float))

    def to_json(self) -> str:
        return json.dumps(
            {
                "noise": self.noise,
                "n_train": self.n_train,
                "n_test": self.n_test,
                "runs": self.runs.to_dict(orient="records"),
                "fitted_clean_accuracy": self.clean_accuracy,
                "curve_slope": self.curve_slope,
                "agreement": self.agreement,
                "agreement_ceiling": self.ceiling,
                "pairs_per_second": self.pairs_per_second,
            },
            indent=2,
        )

    def plot(self, path: str | Path | BinaryIO) -> str | Path | BinaryIO:
        """Accuracy against noise rate, with the fitted curve, saved as PNG to a path or a binary file."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        ax.plot(self.runs["rate"], self.runs["accuracy"], "o", alpha=0.6, label="runs (clean test pairs)")
        grid = np.linspace(0, max(self.runs["rate"].max(), 0.5), 50)
        ax.plot(grid, self.curve(grid), "-", label="fitted 1/2 + (a0 - 1/2)(1 - 2p)")
        if self.ceiling is not None:
            ax.axhline(self.ceiling, ls="--", color="grey", label=f"agreement ceiling {self.ceiling:.2f}")
        ax.axhline(0.5, ls=":", color="black", lw=0.8)
        ax.set_xlabel(f"noise rate ({self.noise})")
        ax.set_ylabel("pairwise accuracy")
        ax.legend(fontsize=8)
        fig.savefig(path, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        return path


def noise_study(
    pairs: pd.DataFrame,
    *,
    rates=(0.0, 0.1, 0.2, 0.3, 0.4),
    seeds=(0,),
    epochs: int = 1,
    max_pairs: int | None = None,
    backbone: str | None = None,
    device: str | None = None,
    noise: str = "uniform",
    agreement: float | None = None,
    test_size: float = 0.2,
    **train_kw,
) -> NoiseStudyResult:
    """Train on noisy pairs, test on clean ones, for every (rate, seed).

    ``noise``: ``"uniform"`` flips, ``"close"`` (flips concentrated on adjacent ranks) or
    ``"spam"`` (a share of pairs answered at random). ``agreement`` (pairwise agreement q between
    annotators, if measured) adds the ceiling a = (1 + sqrt(2q − 1))/2. Train and test are split
    by tree; ``max_pairs`` caps the training pairs (seeded).
    """
    train, test = split_by_group(pairs, test_size=test_size, seed=0)
    if max_pairs is not None and len(train) > max_pairs:
        train = train.sample(max_pairs, random_state=0).reset_index(drop=True)
    rows, speeds = [], []
    for seed in seeds:
        for rate in rates:
            noisy = NOISES[noise](train, rate, seed=seed)
            result = train_reward_model(noisy, backbone=backbone, epochs=epochs, device=device, seed=seed, **train_kw)
            speeds.append(result.pairs_per_second)
            rows.append(
                {
                    "rate": float(rate),
                    "seed": int(seed),
                    "accuracy": pairwise_accuracy(result, test, max_length=train_kw.get("max_length", 256)),
                    "flipped_share": float(noisy["flipped"].mean()),
                    "final_loss": result.losses[-1],
                }
            )
    runs = pd.DataFrame(rows)
    # least squares for a0 in accuracy = 1/2 + (a0 − 1/2)(1 − 2p)
    x = 1 - 2 * runs["rate"].to_numpy()
    a0 = 0.5 + float((x * (runs["accuracy"].to_numpy() - 0.5)).sum() / (x**2).sum())
    return NoiseStudyResult(
        runs=runs,
        clean_accuracy=a0,
        curve_slope=-2 * (a0 - 0.5),
        agreement=agreement,
        ceiling=accuracy_from_agreement(agreement) if agreement is not None else None,
        noise=noise,
        n_train=len(train),
        n_test=len(test),
        pairs_per_second=float(np.mean(speeds)),
    )
