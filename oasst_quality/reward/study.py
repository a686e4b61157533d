"""The label-noise study: retrain under controlled noise and draw accuracy against the noise rate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .._util import percentile_interval
from ..errors import UsageError
from .data import split_by_group
from .noise import accuracy_from_agreement, flip_close, flip_uniform, rankings_agreement, spam_annotators
from .train import _device, pair_correct, train_reward_model

NOISES = {"uniform": flip_uniform, "close": flip_close, "spam": spam_annotators}
MODES = ("frozen", "finetune")


@dataclass
class NoiseStudyResult:
    """``runs``: one row per (rate, seed) with the clean test ``accuracy`` and its bootstrap interval
    over test trees; the fitted curve accuracy(p) = 1/2 + (a0 − 1/2)(1 − 2p) (label flips at rate p
    shrink the learnable signal by 1 − 2p); and the ceiling a = (1 + sqrt(2q − 1))/2 that a measured
    pairwise agreement q implies. ``warning`` is set when the clean accuracy's interval includes 1/2:
    then the model learned nothing measurable and the curve says nothing about noise."""

    runs: pd.DataFrame
    clean_accuracy: float
    curve_slope: float
    agreement: float | None
    ceiling: float | None
    noise: str
    n_train: int
    n_test: int
    pairs_per_second: float
    mode: str = "finetune"
    clean_interval: tuple[float, float] = (float("nan"), float("nan"))
    confidence: float = 0.95
    warning: str | None = None
    timing: dict = field(default_factory=dict)

    def curve(self, rates) -> np.ndarray:
        return 0.5 + (self.clean_accuracy - 0.5) * (1 - 2 * np.asarray(rates, dtype=float))

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "noise": self.noise,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "runs": self.runs.to_dict(orient="records"),
            "fitted_clean_accuracy": self.clean_accuracy,
            "clean_interval": list(self.clean_interval),
            "confidence": self.confidence,
            "warning": self.warning,
            "curve_slope": self.curve_slope,
            "agreement": self.agreement,
            "agreement_ceiling": self.ceiling,
            "pairs_per_second": self.pairs_per_second,
            "timing": self.timing,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def plot(self, path: str | Path | BinaryIO) -> str | Path | BinaryIO:
        """Accuracy against noise rate, with the fitted curve, saved as PNG to a path or a binary file."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        r = self.runs
        ax.errorbar(
            r["rate"],
            r["accuracy"],
            yerr=[r["accuracy"] - r["accuracy_low"], r["accuracy_high"] - r["accuracy"]],
            fmt="o",
            alpha=0.6,
            capsize=2,
            label=f"runs (clean test pairs, {self.confidence:.0%} CI over trees)",
        )
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


class _TreeBootstrap:
    """Accuracy intervals over test trees: one seeded table of tree multiplicities for every run."""

    def __init__(self, groups: pd.Series, n_resamples: int, confidence: float, seed: int) -> None:
        self.codes, uniques = pd.factorize(groups)
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(uniques), size=(n_resamples, len(uniques)))
        offsets = (np.arange(n_resamples) * len(uniques))[:, None]
        self.weights = np.bincount((draws + offsets).ravel(), minlength=n_resamples * len(uniques)).reshape(
            n_resamples, len(uniques)
        )
        self.pairs = self.weights @ np.bincount(self.codes, minlength=len(uniques))
        self.confidence = confidence

    def interval(self, correct: np.ndarray) -> tuple[float, float]:
        per_tree = np.bincount(self.codes, weights=correct, minlength=self.weights.shape[1])
        low, high, _ = percentile_interval(self.weights @ per_tree / self.pairs, self.confidence)
        return low, high


def noise_study(
    pairs: pd.DataFrame,
    *,
    rates=(0.0, 0.1, 0.2, 0.3, 0.4),
    seeds=(0,),
    mode: str | None = None,
    epochs: int = 1,
    max_pairs: int | None = None,
    max_length: int = 128,
    backbone: str | None = None,
    device: str | None = None,
    noise: str = "uniform",
    agreement: float | None = None,
    rankings: pd.DataFrame | None = None,
    head: str = "linear",
    test_size: float = 0.2,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    progress: bool = False,
    **train_kw,
) -> NoiseStudyResult:
    """Train on noisy pairs, test on clean ones, for every (rate, seed).

    ``mode="frozen"`` embeds every (prompt, reply) once with the frozen encoder and trains only a
    ``head`` ("linear" or "mlp") per run (seconds each; the default on a CPU); ``"finetune"`` trains
    the whole encoder per run (the default on a GPU). ``noise``: ``"uniform"`` flips, ``"close"``
    (flips concentrated on adjacent ranks) or ``"spam"`` (a share of pairs answered at random).
    The ceiling a = (1 + sqrt(2q − 1))/2 comes from ``agreement`` q, or is measured from per-ranker
    ``rankings`` (``group, annotator, ranking``; :func:`~oasst_quality.reward.noise.rankings_agreement`).
    Train and test are split by tree; ``max_pairs`` caps the training pairs (seeded). Each run's
    accuracy gets a bootstrap interval over test trees (``n_resamples``, seeded).
    """
    from tqdm.auto import tqdm

    if noise not in NOISES:
        raise UsageError(f"noise must be one of {sorted(NOISES)}, got {noise!r}")
    if agreement is not None and not 0.5 <= agreement <= 1:
        raise UsageError(f"pairwise agreement lies in [0.5, 1] (0.5 is chance), got {agreement}")
    dev = _device(device)
    mode = mode or ("finetune" if dev.startswith("cuda") else "frozen")
    if mode not in MODES:
        raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
    if agreement is None and rankings is not None:
        agreement = rankings_agreement(rankings)
    train, test = split_by_group(pairs, test_size=test_size, seed=0)
    if max_pairs is not None and len(train) > max_pairs:
        train = train.sample(max_pairs, random_state=0).reset_index(drop=True)
    boot = _TreeBootstrap(test["group"], n_resamples, confidence, seed=0)
    fit = _frozen_runner(train, test, backbone, max_length, dev, head) if mode == "frozen" else None
    rows, speeds, clean = [], [], []
    runs = [(seed, rate) for seed in seeds for rate in rates]
    for seed, rate in tqdm(runs, desc=f"noise study ({mode})", unit="run", disable=not progress):
        noisy = NOISES[noise](train, rate, seed=seed)
        start = time.perf_counter()
        if fit is not None:
            correct, final_loss = fit(noisy["flipped"].to_numpy(), seed)
            speeds.append(len(train) / (time.perf_counter() - start))
        else:
            result = train_reward_model(
                noisy, backbone=backbone, epochs=epochs, device=dev, seed=seed, max_length=max_length, **train_kw
            )
            correct, final_loss = pair_correct(result, test, max_length=max_length), result.losses[-1]
            speeds.append(result.pairs_per_second)
        if rate == 0:
            clean.append(correct)
        low, high = boot.interval(correct)
        rows.append(
            {
                "rate": float(rate),
                "seed": int(seed),
                "accuracy": float(correct.mean()),
                "accuracy_low": low,
                "accuracy_high": high,
                "flipped_share": float(noisy["flipped"].mean()),
                "final_loss": final_loss,
            }
        )
    table = pd.DataFrame(rows)
    # least squares for a0 in accuracy = 1/2 + (a0 − 1/2)(1 − 2p)
    x = 1 - 2 * table["rate"].to_numpy()
    a0 = 0.5 + float((x * (table["accuracy"].to_numpy() - 0.5)).sum() / (x**2).sum())
    clean_interval = boot.interval(np.mean(clean, axis=0)) if clean else (float("nan"), float("nan"))
    warning = None
    if clean and clean_interval[0] <= 0.5:
        warning = (
            f"the clean accuracy's {confidence:.0%} interval ({clean_interval[0]:.3f}-{clean_interval[1]:.3f}) "
            "includes 0.5: the model learned nothing measurable from these pairs, so the curve says nothing "
            "about noise (more pairs, more epochs, or fine-tuning on a GPU)"
        )
    return NoiseStudyResult(
        runs=table,
        clean_accuracy=a0,
        curve_slope=-2 * (a0 - 0.5),
        agreement=agreement,
        ceiling=accuracy_from_agreement(agreement) if agreement is not None else None,
        noise=noise,
        n_train=len(train),
        n_test=len(test),
        pairs_per_second=float(np.mean(speeds)),
        mode=mode,
        clean_interval=clean_interval,
        confidence=confidence,
        warning=warning,
        timing=fit.timing if fit is not None else {},
    )


class _frozen_runner:
    """Embeds the train and test pairs once; each call trains a head on (possibly flipped) pairs."""

    def __init__(self, train: pd.DataFrame, test: pd.DataFrame, backbone, max_length: int, device: str, head: str):
        from .frozen import embed_texts

        start = time.perf_counter()
        n, m = len(train), len(test)
        prompts = [*train["prompt"], *train["prompt"], *test["prompt"], *test["prompt"]]
        replies = [*train["chosen"], *train["rejected"], *test["chosen"], *test["rejected"]]
        e = embed_texts(prompts, replies, backbone=backbone, max_length=max_length, device=device)
        self.chosen, self.rejected = e[:n], e[n : 2 * n]
        self.test_chosen, self.test_rejected = e[2 * n : 2 * n + m], e[2 * n + m :]
        self.groups = train["group"].to_numpy()
        self.head = head
        self.timing = {"encode_seconds": time.perf_counter() - start}

    def __call__(self, flipped: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
        from .frozen import train_head

        swap = flipped[:, None]
        chosen = np.where(swap, self.rejected, self.chosen)
        rejected = np.where(swap, self.chosen, self.rejected)
        fitted = train_head(chosen, rejected, head=self.head, groups=self.groups, seed=seed)
        diff = fitted.reward(self.test_chosen) - fitted.reward(self.test_rejected)
        return (diff > 0) + 0.5 * (diff == 0), fitted.losses[-1]
