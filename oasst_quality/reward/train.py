"""Training and evaluating the reward model with the pairwise Bradley-Terry loss."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from . import model as model_lib


@dataclass
class TrainResult:
    model: object
    tokenizer: object
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    device: str = "cpu"
    pairs_per_second: float = 0.0


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _rewards(model, tokenizer, prompts, replies, device, max_length):
    import torch

    max_length = min(max_length, model.encoder.config.max_position_embeddings)
    batch = tokenizer(
        list(prompts),
        list(replies),
        truncation="longest_first",
        padding=True,
        max_length=max_length,
        return_tensors="pt",
    ).to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else nullcontext()
    with autocast:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).float()


def train_reward_model(
    pairs: pd.DataFrame,
    *,
    backbone: str | None = None,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 5e-5,
    max_length: int = 256,
    l2: float = 0.0,
    device: str | None = None,
    seed: int = 0,
) -> TrainResult:
    """Fit a reward model on (prompt, chosen, rejected) pairs.

    Loss: −log σ(r_chosen − r_rejected), plus ``l2`` × (r_chosen² + r_rejected²) as in OASST's
    reward-model training when asked for. CUDA with bf16 autocast when present, else the CPU,
    where training is seeded and deterministic.
    """
    import time

    import torch

    dev = _device(device)
    torch.manual_seed(seed)
    model, tokenizer = model_lib.build(backbone)
    model.to(dev).train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), _deterministic(dev):
        torch.manual_seed(seed)
        for _ in range(epochs):
            order = rng.permutation(len(pairs))
            total, n = 0.0, 0
            for i in range(0, len(order), batch_size):
                b = pairs.iloc[order[i : i + batch_size]]
                rc = _rewards(model, tokenizer, b["prompt"], b["chosen"], dev, max_length)
                rr = _rewards(model, tokenizer, b["prompt"], b["rejected"], dev, max_length)
                loss = -torch.nn.functional.logsigmoid(rc - rr).mean()
                if l2:
                    loss = loss + l2 * (rc**2 + rr**2).mean()
                optim.zero_grad()
                loss.backward()
                optim.step()
                total += loss.item() * len(b)
                n += len(b)
            losses.append(total / max(n, 1))
    rate = len(pairs) * epochs / (time.perf_counter() - start)
    model.eval()
    return TrainResult(model, tokenizer, losses, dev, rate)


class _deterministic:
    """Deterministic kernels on the CPU for the duration of training."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        import torch

        self.previous = torch.are_deterministic_algorithms_enabled()
        if self.device == "cpu":
            torch.use_deterministic_algorithms(True)
        return self

    def __exit__(self, *exc):
        import torch

        torch.use_deterministic_algorithms(self.previous)
        return False


def score(result: TrainResult, prompts, replies, *, batch_size: int = 64, max_length: int = 256) -> np.ndarray:
    """Rewards for (prompt, reply) pairs."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(replies), batch_size):
            out.append(
                _rewards(
                    result.model,
                    result.tokenizer,
                    list(prompts[i : i + batch_size]),
                    list(replies[i : i + batch_size]),
                    result.device,
                    max_length,
                )
                .cpu()
                .numpy()
            )
    return np.concatenate(out) if out else np.empty(0)


def pairwise_accuracy(result: TrainResult, pairs: pd.DataFrame, **kw) -> float:
    """Share of pairs whose chosen reply gets the higher reward (ties count one half)."""
    prompts = pairs["prompt"].tolist()
    diff = score(result, prompts, pairs["chosen"].tolist(), **kw) - score(
        result, prompts, pairs["rejected"].tolist(), **kw
    )
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def ranking_tau(result: TrainResult, pairs: pd.DataFrame, **kw) -> float:
    """Mean Kendall tau between the model's ranking and the consensus ranking of each reply set."""
    taus = []
    for _, g in pairs.groupby("parent"):
        ids = pd.unique(np.concatenate([g["chosen_id"], g["rejected_id"]]))
        if len(ids) < 2:
            continue
        rank = pd.concat([g.set_index("chosen_id")["rank_chosen"], g.set_index("rejected_id")["rank_rejected"]])
        rank = rank[~rank.index.duplicated()].reindex(ids)
        text = pd.concat([g.set_index("chosen_id")["chosen"], g.set_index("rejected_id")["rejected"]])
        text = text[~text.index.duplicated()].reindex(ids)
        rewards = score(result, [g["prompt"].iloc[0]] * len(ids), text.tolist(), **kw)
        tau = kendalltau(-rank.to_numpy(), rewards).statistic
        if not np.isnan(tau):
            taus.append(tau)
    return float(np.mean(taus)) if taus else float("nan")
