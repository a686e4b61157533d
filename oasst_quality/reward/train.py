"""Training and evaluating the reward model with the pairwise Bradley-Terry loss.

The loop is built for throughput: every (prompt, reply) is tokenized once up front; batches group
pairs of similar length (seeded buckets) and are padded only to their own longest sequence; chosen
and rejected replies go through the encoder in one forward pass; AdamW is fused on CUDA, attention
is PyTorch's scaled-dot-product kernel, and ``compile=True`` adds ``torch.compile``. Scoring is
batched the same way, in length order.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from .._util import torch_device as _device
from ..errors import NotComputableError
from . import model as model_lib


@dataclass
class TrainResult:
    model: object
    tokenizer: object
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    device: str = "cpu"
    pairs_per_second: float = 0.0
    tokens_per_second: float = 0.0  # non-padding tokens through forward and backward


@dataclass(frozen=True)
class Encoded:
    """Distinct (prompt, reply) texts tokenized once: token ids per text, and each row's text index."""

    ids: list[np.ndarray]
    lengths: np.ndarray
    pad_id: int


def encode(tokenizer, prompts, replies, max_length: int) -> tuple[Encoded, np.ndarray]:
    """Tokenize each distinct (prompt, reply) once; return them and the index of every row's text."""
    key = pd.Series(list(prompts), dtype=object) + "\x00" + pd.Series(list(replies), dtype=object)
    codes, _ = pd.factorize(key)
    _, first = np.unique(codes, return_index=True)  # codes are 0..k-1 in order of first appearance
    p, r = np.asarray(list(prompts), dtype=object), np.asarray(list(replies), dtype=object)
    tokens = tokenizer(list(p[first]), list(r[first]), truncation="longest_first", max_length=max_length)
    ids = [np.asarray(t, dtype=np.int64) for t in tokens["input_ids"]]
    lengths = np.fromiter((t.size for t in ids), dtype=np.int64, count=len(ids))
    return Encoded(ids, lengths, tokenizer.pad_token_id or 0), codes


def _padded(enc: Encoded, rows: np.ndarray, device: str):
    """(input_ids, attention_mask) for the texts ``rows``, padded to their longest."""
    import torch

    width = int(enc.lengths[rows].max())
    ids = np.full((rows.size, width), enc.pad_id, dtype=np.int64)
    mask = np.zeros((rows.size, width), dtype=np.int64)
    for i, r in enumerate(rows):
        n = enc.lengths[r]
        ids[i, :n] = enc.ids[r]
        mask[i, :n] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, *, pool: int = 50) -> list:
    """Seeded batches of similar length: shuffle, sort within pools of ``pool`` batches, cut, shuffle the batches."""
    order = rng.permutation(lengths.size)
    batches = []
    for start in range(0, order.size, batch_size * pool):
        chunk = order[start : start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, chunk.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _autocast(device: str):
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else nullcontext()


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
    compile: bool = False,
) -> TrainResult:
    """Fit a reward model on (prompt, chosen, rejected) pairs.

    Loss: −log σ(r_chosen − r_rejected), plus ``l2`` × (r_chosen² + r_rejected²) as in OASST's
    reward-model training when asked for. CUDA with bf16 autocast when present, else the CPU,
    where training is seeded and deterministic. ``batch_size`` counts pairs (the encoder sees twice
    as many sequences).
    """
    import torch

    dev = _device(device)
    torch.manual_seed(seed)
    model, tokenizer = model_lib.build(backbone)
    model.to(dev).train()
    max_length = min(max_length, model.encoder.config.max_position_embeddings)
    n = len(pairs)
    enc, codes = encode(
        tokenizer, [*pairs["prompt"], *pairs["prompt"]], [*pairs["chosen"], *pairs["rejected"]], max_length
    )
    chosen, rejected = codes[:n], codes[n:]
    pair_length = np.maximum(enc.lengths[chosen], enc.lengths[rejected])
    cuda = dev.startswith("cuda")
    optim = torch.optim.AdamW(model.parameters(), lr=lr, **({"fused": True} if cuda else {}))
    forward = torch.compile(model, dynamic=True) if compile else model
    rng = np.random.default_rng(seed)
    losses, tokens = [], 0
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), _deterministic(dev):
        torch.manual_seed(seed)
        for _ in range(epochs):
            total = torch.zeros((), device=dev)
            for batch in length_batches(pair_length, batch_size, rng):
                rows = np.concatenate([chosen[batch], rejected[batch]])  # one forward pass for both sides
                ids, mask = _padded(enc, rows, dev)
                with _autocast(dev):
                    rewards = forward(input_ids=ids, attention_mask=mask).float()
                rc, rr = rewards[: batch.size], rewards[batch.size :]
                loss = -torch.nn.functional.logsigmoid(rc - rr).mean()
                if l2:
                    loss = loss + l2 * (rc**2 + rr**2).mean()
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                total += loss.detach() * batch.size  # no host sync per step
                tokens += int(enc.lengths[rows].sum())
            losses.append(float(total) / max(n, 1))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(model, tokenizer, losses, dev, n * epochs / seconds, tokens / seconds)


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
    """Rewards for (prompt, reply) pairs: each distinct text scored once, in length-sorted batches."""
    import torch

    if not len(replies):
        return np.empty(0)
    max_length = min(max_length, result.model.encoder.config.max_position_embeddings)
    enc, codes = encode(result.tokenizer, prompts, replies, max_length)
    order = np.argsort(enc.lengths, kind="stable")
    out = np.empty(len(enc.ids), dtype=np.float64)
    with torch.inference_mode():
        for i in range(0, order.size, batch_size):
            rows = order[i : i + batch_size]
            ids, mask = _padded(enc, rows, result.device)
            with _autocast(result.device):
                out[rows] = result.model(input_ids=ids, attention_mask=mask).float().cpu().numpy()
    return out[codes]


def pair_correct(result: TrainResult, pairs: pd.DataFrame, **kw) -> np.ndarray:
    """Per pair: 1 when the chosen reply gets the higher reward, 0.5 on a tie, else 0."""
    n = len(pairs)
    rewards = score(result, [*pairs["prompt"], *pairs["prompt"]], [*pairs["chosen"], *pairs["rejected"]], **kw)
    diff = rewards[:n] - rewards[n:]
    return (diff > 0) + 0.5 * (diff == 0)


def pairwise_accuracy(result: TrainResult, pairs: pd.DataFrame, **kw) -> float:
    """Share of pairs whose chosen reply gets the higher reward (ties count one half)."""
    return float(np.mean(pair_correct(result, pairs, **kw)))


def ranking_tau(result: TrainResult, pairs: pd.DataFrame, **kw) -> float:
    """Mean Kendall tau between the model's ranking and the consensus ranking of each reply set
    (NotComputableError when no set has two replies with a defined tau)."""
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
    if not taus:
        raise NotComputableError("no reply set with two or more replies to rank")
    return float(np.mean(taus))
