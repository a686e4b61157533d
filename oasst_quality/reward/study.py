"""The label-noise study: retrain under controlled noise and draw accuracy against the noise rate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

from .._util import jsonable, row_interval
from ..errors import NotComputableError, UsageError
from ..estimate import Estimate
from .data import preference_data, split_by_group, with_texts
from .noise import accuracy_from_agreement, flip_close, flip_uniform, rankings_agreement, spam_annotators
from .train import _device, pair_correct, train_reward_model

if TYPE_CHECKING:
    from ..engine import Engine

NOISES = {"uniform": flip_uniform, "close": flip_close, "spam": spam_annotators}
MODES = ("frozen", "finetune")


#: What the ceiling assumes, said wherever it is shown.
CEILING_ASSUMPTIONS = (
    "the ceiling (1 + sqrt(2q - 1))/2 assumes every pair is equally hard and every annotator equally accurate, "
    "and single-annotator test labels; pairs of unequal difficulty or consensus test labels move it"
)
#: What the monotone fit assumes.
CURVE_ASSUMPTIONS = (
    "the curve is a decreasing (isotonic) fit of the measured mean accuracies per rate: it assumes only that "
    "more noise never helps, not a shape; the line 1/2 + (a0 - 1/2)(1 - 2p) describes a fixed model scored "
    "against flipped labels, not a model trained on them, and is not used"
)


@dataclass
class NoiseStudyResult:
    """``runs``: one row per (rate, seed) with the clean test ``accuracy`` and its bootstrap interval
    over test trees. The headline is ``by_rate``: per rate the mean measured accuracy over seeds with
    an interval that resamples both seeds and test trees (so training variability is in it), and a
    decreasing (isotonic) fit through the means. ``clean_accuracy`` is the measured mean at rate 0.
    The ceiling a = (1 + sqrt(2q − 1))/2 that a measured pairwise agreement q implies comes with its
    assumptions (:data:`CEILING_ASSUMPTIONS`). ``warning`` is set when the clean interval includes
    1/2 (the model learned nothing measurable) or when a seed's own clean run does (``seed_warnings``
    lists them). Where the test trees cannot give an interval (one test tree, or every resample
    scoring the same, as when every test pair is right) it is None, never of zero width, and
    ``clean.details['no_interval']`` says why."""

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
    clean_interval: tuple[float | None, float | None] = (0.0, 1.0)
    clean_no_interval: str | None = None
    confidence: float = 0.95
    warning: str | None = None
    timing: dict = field(default_factory=dict)
    by_rate: pd.DataFrame = field(default_factory=pd.DataFrame)
    seed_warnings: list = field(default_factory=list)

    @property
    def clean(self) -> Estimate:
        """The measured clean accuracy (rate 0, mean over seeds) with its interval over seeds and test trees."""
        row = self.by_rate[self.by_rate["rate"] == 0.0]
        n_seeds = int(row["n_seeds"].iloc[0]) if len(row) else 0
        return Estimate(
            self.clean_accuracy,
            *self.clean_interval,
            self.confidence,
            self.n_test,
            "mean over seeds of the clean test accuracy; percentile bootstrap over seeds and test trees",
            {"n_seeds": n_seeds} | ({"no_interval": self.clean_no_interval} if self.clean_no_interval else {}),
        )

    def curve(self, rates) -> np.ndarray:
        """The decreasing fit, interpolated between the measured rates."""
        if not len(self.by_rate):
            return np.full(np.shape(rates), self.clean_accuracy)
        return np.interp(rates, self.by_rate["rate"], self.by_rate["monotone_fit"])

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "noise": self.noise,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "runs": self.runs.to_dict(orient="records"),
            "fitted_clean_accuracy": self.clean_accuracy,
            "clean_interval": list(self.clean_interval),
            "clean": self.clean.to_dict(),
            "confidence": self.confidence,
            "warning": self.warning,
            "seed_warnings": self.seed_warnings,
            "by_rate": self.by_rate.to_dict(orient="records"),
            "curve_assumptions": CURVE_ASSUMPTIONS,
            "ceiling_assumptions": CEILING_ASSUMPTIONS if self.ceiling is not None else None,
            "curve_slope": self.curve_slope,
            "agreement": self.agreement,
            "agreement_ceiling": self.ceiling,
            "pairs_per_second": self.pairs_per_second,
            "timing": self.timing,
        }

    def to_json(self) -> str:
        return json.dumps(jsonable(self.to_dict()), indent=2)  # an interval the data cannot give: null

    def plot(self, path: str | Path | BinaryIO) -> str | Path | BinaryIO:
        """Accuracy against noise rate, with the fitted curve, saved as PNG to a path or a binary file."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        r = self.runs
        ax.plot(r["rate"], r["accuracy"], ".", alpha=0.4, color="grey", label="runs (one per seed)")
        b = self.by_rate
        if len(b):
            ax.errorbar(
                b["rate"],
                b["accuracy"],
                yerr=[b["accuracy"] - b["accuracy_low"], b["accuracy_high"] - b["accuracy"]],
                fmt="o",
                capsize=3,
                label=f"mean over seeds ({self.confidence:.0%} CI over seeds and test trees)",
            )
            ax.plot(b["rate"], b["monotone_fit"], "-", label="decreasing fit")
        if self.ceiling is not None:
            ax.axhline(
                self.ceiling, ls="--", color="grey", label=f"agreement ceiling {self.ceiling:.2f} (equal difficulty)"
            )
        ax.axhline(0.5, ls=":", color="black", lw=0.8)
        ax.set_xlabel(f"noise rate ({self.noise})")
        ax.set_ylabel("pairwise accuracy")
        ax.legend(fontsize=8)
        fig.savefig(path, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        return path


class _TreeBootstrap:
    """Accuracy intervals over test trees: one seeded table of tree multiplicities for every run.
    :meth:`reason` says why the last interval asked for is None (:func:`~oasst_quality._util.row_interval`'s
    reason), or None when it is an interval."""

    def __init__(self, groups: pd.Series, n_resamples: int, confidence: float, seed: int) -> None:
        from ..agreement import _resample_counts

        self.codes, uniques = pd.factorize(groups)
        self.weights = _resample_counts(np.random.default_rng(seed), len(uniques), n_resamples)
        self.pairs = self.weights @ np.bincount(self.codes, minlength=len(uniques))
        self.confidence = confidence
        self._reason: str | None = None

    def _row(self, stats: np.ndarray) -> tuple[float | None, float | None]:
        low, high, self._reason = row_interval(stats, self.confidence, self.weights.shape[1], "test tree")
        return low, high

    def interval(self, correct: np.ndarray) -> tuple[float | None, float | None]:
        """The accuracy's interval over test trees; None where they cannot give one (:meth:`reason`)."""
        per_tree = np.bincount(self.codes, weights=correct, minlength=self.weights.shape[1])
        return self._row(self.weights @ per_tree / self.pairs)

    def reason(self) -> str | None:
        """Why the last interval asked for is None (one test tree, no spread between resamples, a
        statistic undefined on every resample), or None when it is an interval."""
        return self._reason

    def over_seeds(self, correct: np.ndarray, seed: int = 0) -> tuple[float | None, float | None]:
        """Interval for the mean over seeds of ``correct`` (seeds x test pairs): each resample draws the
        seeds with replacement as well as the test trees, so training variability is in it."""
        from ..agreement import _resample_counts

        s = correct.shape[0]
        seed_weights = _resample_counts(np.random.default_rng(seed), s, self.weights.shape[0]) / s  # resamples x seeds
        per_tree = np.stack([np.bincount(self.codes, weights=c, minlength=self.weights.shape[1]) for c in correct])
        return self._row(np.einsum("bs,st,bt->b", seed_weights, per_tree, self.weights) / self.pairs)


def noise_study(
    pairs: pd.DataFrame | Engine,
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

    ``pairs`` may be an engine of partitions (:mod:`oasst_quality.engine`: in memory, or Dask): the
    split is then made on the partitions' pairs without texts (:func:`~oasst_quality.reward.preference_data`,
    in the one Dataset's order, so the same rows), and only the rows it keeps bring their texts
    (:func:`~oasst_quality.reward.data.with_texts`): the same study as on the Dataset's pairs.
    """
    from tqdm.auto import tqdm

    if noise not in NOISES:
        raise UsageError(f"noise must be one of {sorted(NOISES)}, got {noise!r}")
    if 0.0 not in {float(r) for r in rates}:
        raise UsageError(f"the study measures the clean accuracy at rate 0: include 0 in the rates (got {list(rates)})")
    if agreement is not None and not 0.5 <= agreement <= 1:
        raise UsageError(f"pairwise agreement lies in [0.5, 1] (0.5 is chance), got {agreement}")
    dev = _device(device)
    mode = mode or ("finetune" if dev.startswith("cuda") else "frozen")
    if mode not in MODES:
        raise UsageError(f"mode must be one of {MODES}, got {mode!r}")
    if agreement is None and rankings is not None:
        agreement = rankings_agreement(rankings)
    engine = pairs if hasattr(pairs, "map_reduce") else None
    if engine is not None:
        pairs = preference_data(engine, texts=False)
    if not len(pairs):
        raise NotComputableError("no preference pairs: the data has no reply set with two or more ranked replies")
    train, test = split_by_group(pairs, test_size=test_size, seed=0)
    if max_pairs is not None and len(train) > max_pairs:
        train = train.sample(max_pairs, random_state=0).reset_index(drop=True)
    if engine is not None:  # the texts of the rows kept, fetched from their partitions at once
        both = with_texts(engine, pd.concat([train, test], ignore_index=True))
        train, test = both.iloc[: len(train)].reset_index(drop=True), both.iloc[len(train) :].reset_index(drop=True)
    boot = _TreeBootstrap(test["group"], n_resamples, confidence, seed=0)
    fit = _frozen_runner(train, test, backbone, max_length, dev, head) if mode == "frozen" else None
    rows, speeds, per_run = [], [], {}
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
        per_run[(float(rate), int(seed))] = np.asarray(correct, dtype=float)
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
    table = pd.DataFrame(rows).astype({"accuracy_low": float, "accuracy_high": float})  # None: NaN
    by_rate = _by_rate(table, per_run, boot)
    clean_row = by_rate[by_rate["rate"] == 0.0]
    a0 = float(clean_row["accuracy"].iloc[0])  # rate 0 is always run
    low, high, reason = (clean_row[c].iloc[0] for c in ("accuracy_low", "accuracy_high", "no_interval"))
    clean_interval = (None, None) if pd.isna(low) else (float(low), float(high))
    slope = float(np.polyfit(table["rate"], table["accuracy"], 1)[0]) if table["rate"].nunique() > 1 else 0.0
    warnings = []
    if clean_interval[0] is not None and clean_interval[0] <= 0.5:
        warnings.append(
            f"the clean accuracy's {confidence:.0%} interval ({clean_interval[0]:.3f}-{clean_interval[1]:.3f}) "
            "includes 0.5: the model learned nothing measurable from these pairs, so the curve says nothing "
            "about noise (more pairs, more epochs, or fine-tuning on a GPU)"
        )
    clean_runs = table[table["rate"] == 0.0]
    seed_warnings = _seed_warnings(table)
    if seed_warnings and not warnings:
        warnings.append(f"{len(seed_warnings)} of {len(clean_runs)} seeds learned nothing measurable on their own")
    warning = "; ".join(warnings) or None
    return NoiseStudyResult(
        runs=table,
        clean_accuracy=a0,
        curve_slope=slope,
        agreement=agreement,
        ceiling=accuracy_from_agreement(agreement) if agreement is not None else None,
        noise=noise,
        n_train=len(train),
        n_test=len(test),
        pairs_per_second=float(np.mean(speeds)),
        mode=mode,
        clean_interval=clean_interval,
        clean_no_interval=reason if isinstance(reason, str) else None,  # (a missing reason reads as NaN)
        confidence=confidence,
        warning=warning,
        timing=fit.timing if fit is not None else {},
        by_rate=by_rate,
        seed_warnings=seed_warnings,
    )


def _seed_warnings(runs: pd.DataFrame) -> list[str]:
    """One line per seed whose own clean run's interval includes 1/2."""
    clean = runs[runs["rate"] == 0.0]
    return [
        f"seed {int(r.seed)}: clean accuracy {r.accuracy:.3f}, interval {r.accuracy_low:.3f}-{r.accuracy_high:.3f} "
        "includes 0.5"
        for r in clean.itertuples()
        if pd.notna(r.accuracy_low) and r.accuracy_low <= 0.5
    ]


def _by_rate(table: pd.DataFrame, per_run: dict, boot: _TreeBootstrap) -> pd.DataFrame:
    """Per rate: mean accuracy over seeds, its interval over seeds and test trees (``no_interval``: why
    there is none, else None), and a decreasing fit."""
    from sklearn.isotonic import IsotonicRegression

    rows = []
    for rate, runs in table.groupby("rate", sort=True):
        correct = np.stack([per_run[(rate, seed)] for seed in runs["seed"]])
        low, high = boot.over_seeds(correct, seed=0)
        rows.append(
            {
                "rate": float(rate),
                "n_seeds": len(runs),
                "accuracy": float(correct.mean()),
                "accuracy_low": low,
                "accuracy_high": high,
                "no_interval": boot.reason(),
                "seed_sd": float(runs["accuracy"].std(ddof=1)) if len(runs) > 1 else 0.0,
            }
        )
    out = pd.DataFrame(rows).astype({"accuracy_low": float, "accuracy_high": float})
    fit = IsotonicRegression(increasing=False).fit(out["rate"], out["accuracy"], sample_weight=out["n_seeds"])
    out["monotone_fit"] = fit.predict(out["rate"])
    return out


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
