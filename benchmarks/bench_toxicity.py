"""Detoxify scoring throughput: texts per second at batch sizes 1, 8 and 32.

By default a tiny BERT (built here, in Detoxify's checkpoint format, scored through the same
offline path as real checkpoints) on the CPU over the bundled sample's texts. On a GPU machine,
the prepared command measures a model of the real size, BERT-base as in Detoxify's `original`
(random weights: the hub is unreachable there, and the cost does not depend on the values):

    python benchmarks/bench_toxicity.py                                # tiny, CPU
    python benchmarks/bench_toxicity.py --size base --device cuda --n 4096 --batch-sizes 1,8,32,128
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import transformers

import oasst_quality as oq
from oasst_quality import toxicity as tx

HEADS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate", "sexual_explicit"]
SIZES = {
    "tiny": dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


def build(folder: Path, size: str, texts: list[str]) -> tuple[Path, Path]:
    words = sorted({w for t in texts for w in t.lower().split()})[:20000]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n", encoding="utf-8")
    config_dir = folder / "config"
    transformers.BertTokenizer(str(vocab)).save_pretrained(config_dir)
    config = transformers.BertConfig(
        vocab_size=len(words) + 5, max_position_embeddings=512, num_labels=len(HEADS), **SIZES[size]
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    checkpoint = folder / "model.ckpt"
    torch.save(
        {
            "config": {
                "arch": {"args": {"model_name": "BertForSequenceClassification", "num_classes": len(HEADS)}},
                "dataset": {"args": {"classes": HEADS}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=256, help="texts to score")
    parser.add_argument("--batch-sizes", default="1,8,32")
    args = parser.parse_args()
    texts = oq.load_sample().messages["text"].tolist()
    texts = (texts * (args.n // len(texts) + 1))[: args.n]
    params = None
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, config_dir = build(Path(tmp), args.size, texts)
        tx.score_texts(texts[:8], checkpoint=checkpoint, config_dir=config_dir, device=args.device)  # warm-up
        print(f"model: {args.size} BERT on {args.device} ({torch.get_num_threads()} CPU threads), {len(texts)} texts")
        print("batch size | texts/s")
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            t = time.perf_counter()
            tx.score_texts(
                texts, checkpoint=checkpoint, config_dir=config_dir, device=args.device, batch_size=bs, progress=False
            )
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            print(f"{bs} | {len(texts) / (time.perf_counter() - t):,.1f}")
        params = sum(p.numel() for p in torch.load(checkpoint, weights_only=True)["state_dict"].values())
    print(f"parameters: {params:,}")


if __name__ == "__main__":
    main()
