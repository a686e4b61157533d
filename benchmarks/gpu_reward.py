"""GPU measurements for the reward model, in one run: fine-tuning throughput and a study at scale.

Prepared for one H100 or H200 through the device tool (this script is what the GPU session runs;
the machine reaches nothing, so everything travels with the working tree):

1. Here, once: the MiniLM weights as float16 safetensors (45 MB; the 83 MB package does not fit
   the 64 MiB that travels), and the orjson wheel the device image lacks::

       echo /.carry/ >> .git/info/exclude; echo /.whl/ >> .git/info/exclude
       .venv/bin/python benchmarks/gpu_reward.py --export-backbone .carry/minilm
       python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
           --platform manylinux_2_17_x86_64 -d .whl orjson

2. On the device (carry ``.carry`` and ``.whl``; about 6 minutes)::

       python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
       PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 python3 benchmarks/gpu_reward.py --backbone .carry/minilm

It widens the weights to float32, then measures (a) full fine-tuning pairs/s and tokens/s for
MiniLM-L6 at 256 tokens on real, variable-length OASST text (planted pairs from the bundled
sample's messages), at 64, 128 and 256 pairs per batch, eager and with ``torch.compile``, against
the target of 4,000 pairs/s; (b) a 5-rate x 3-seed fine-tuning study on 50,000 training pairs,
against the target of 10 minutes. Results go to stdout and, where $OUT is set, to $OUT/gpu_reward.json.
``--quick`` runs the same code at toy sizes (for a check on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import oasst_quality as oq
from oasst_quality import reward as rw


def export_backbone(folder: str) -> None:
    import torch

    from oasst_quality.reward import model as model_lib

    model, tokenizer = model_lib.build()
    encoder = model.encoder.to(torch.float16)
    encoder.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    size = sum(f.stat().st_size for f in Path(folder).iterdir()) / 2**20
    print(f"wrote {folder} ({size:.1f} MiB, float16)")


def widened(folder: str) -> str:
    """The float16 backbone saved again as float32 in /tmp (the loop keeps float32 master weights)."""
    import transformers

    out = Path("/tmp") / (Path(folder).name + "-float32")
    if not out.exists():
        model = transformers.AutoModel.from_pretrained(folder, local_files_only=True).float()
        model.save_pretrained(out)
        transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True).save_pretrained(out)
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-backbone", metavar="DIR")
    parser.add_argument("--backbone", help="the exported float16 backbone folder (default: the installed MiniLM)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="toy sizes, for a check on the CPU")
    args = parser.parse_args()
    if args.export_backbone:
        export_backbone(args.export_backbone)
        return
    import torch

    backbone = widened(args.backbone) if args.backbone else None
    texts = oq.load_sample().messages["text"].tolist()
    # --quick: the same code at toy sizes (a CPU runs MiniLM at about 2 pairs/s, and 256-pair batches
    # of 256 tokens need more memory than a small machine has)
    if args.quick:
        n_pairs, rates, seeds, batches, compiles, length = 40, (0.0, 0.4), (0,), (4, 8), (False,), 64
    else:
        n_pairs, rates, seeds = 62_500, (0.0, 0.1, 0.2, 0.3, 0.4), range(3)
        batches, compiles, length = (64, 128, 256), (False, True), 256
    results: dict = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "throughput": []}
    print(results["device"], "torch", torch.__version__)

    # (a) throughput: a warm-up run first, so CUDA start-up is not in the figures
    warm = rw.planted_pairs(texts, batches[0] * 4, seed=9)
    rw.train_reward_model(warm, backbone=backbone, device=args.device, batch_size=batches[0], max_length=length)
    for compile_ in compiles:
        for batch in batches:
            pairs = rw.planted_pairs(texts, batch * (80 if not args.quick else 2), seed=1)
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            r = rw.train_reward_model(
                pairs, backbone=backbone, device=args.device, batch_size=batch, max_length=length, compile=compile_
            )
            row = {
                "batch_pairs": batch,
                "compile": compile_,
                "pairs": len(pairs),
                "pairs_per_second": r.pairs_per_second,
                "tokens_per_second": r.tokens_per_second,
                "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None,
            }
            results["throughput"].append(row)
            print(json.dumps(row))
    best = max(results["throughput"], key=lambda row: row["pairs_per_second"])
    verdict = "n/a in --quick" if args.quick else "met" if best["pairs_per_second"] >= 4000 else "NOT met"
    print(f"best: {best['pairs_per_second']:,.0f} pairs/s (target 4,000: {verdict})")

    # (b) the study at scale: 62,500 planted pairs -> 50,000 train / 12,500 test, split by group
    start = time.perf_counter()
    study = rw.noise_study(
        rw.planted_pairs(texts, n_pairs, seed=0),
        rates=rates,
        seeds=seeds,
        mode="finetune",
        backbone=backbone,
        device=args.device,
        max_length=length,
        batch_size=best["batch_pairs"],
        compile=best["compile"],
    )
    seconds = time.perf_counter() - start
    print(study.runs.round(4).to_string(index=False))
    verdict = "n/a in --quick" if args.quick else "met" if seconds <= 600 else "NOT met"
    print(
        f"study: {len(study.runs)} runs on {study.n_train:,} training pairs in {seconds:.0f} s "
        f"(target 600 s: {verdict}); {study.pairs_per_second:,.0f} pairs/s; "
        f"fitted clean accuracy {study.clean_accuracy:.3f}"
    )
    results["study"] = {"seconds": seconds, **study.to_dict()}
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_reward.json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
