"""Frozen-encoder reward models: embed every (prompt, reply) once, then train only a small head.

Fine-tuning a transformer for every (noise rate, seed) of a study costs minutes per run on a CPU.
With the encoder frozen, the study is one encoding pass (each distinct text once, length-sorted
batches) plus a head trained in seconds per run on the cached embeddings, with the same
Bradley-Terry loss. It measures what label noise does to a reward model that can only re-weight
fixed features, which is a lower bound on what fine-tuning learns, not the same number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UsageError
from . import model as model_lib
from .train import _autocast, _device, _padded, encode


def embed_texts(
    prompts,
    replies,
    *,
    backbone: str | None = None,
    max_length: int = 256,
    batch_size: int = 64,
    device: str | None = None,
) -> np.ndarray:
    """Mean-pooled encoder states of each (prompt, reply), one row per input; each distinct text once."""
    import torch

    dev = _device(device)
    model, tokenizer = model_lib.build(backbone)
    model.to(dev).eval()
    max_length = min(max_length, model.encoder.config.max_position_embeddings)
    enc, codes = encode(tokenizer, prompts, replies, max_length)
    order = np.argsort(enc.lengths, kind="stable")
    out = np.empty((len(enc.ids), model.encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, order.size, batch_size):
            rows = order[i : i + batch_size]
            ids, mask = _padded(enc, rows, dev)
            with _autocast(dev):
                out[rows] = model.embed(ids, mask).float().cpu().numpy()
    return out[codes]


@dataclass
class FrozenHead:
    """A reward head on fixed embeddings: ``reward(x)`` = the head's output for rows of ``x``."""

    mean: np.ndarray
    scale: np.ndarray
    module: object
    losses: list[float]

    def reward(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            z = torch.from_numpy(((x - self.mean) / self.scale).astype(np.float32))
            return self.module(z).squeeze(-1).double().numpy()


#: The penalties that ``train_head(l2=None)`` chooses among by cross-validation.
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)


def train_head(
    chosen: np.ndarray,
    rejected: np.ndarray,
    *,
    head: str = "linear",
    l2: float | None = None,
    groups: np.ndarray | None = None,
    folds: int = 5,
    steps: int = 200,
    hidden: int = 64,
    seed: int = 0,
) -> FrozenHead:
    """Fit a head by the Bradley-Terry loss −log σ(f(chosen) − f(rejected)) + ``l2`` ||weights||².

    ``head="linear"`` (f = w·x, full-batch L-BFGS: a regularized logistic regression on embedding
    differences) or ``"mlp"`` (one hidden ReLU layer, full-batch Adam). Features are standardized
    with the training rows' mean and spread. ``l2=None`` picks the penalty from :data:`L2_GRID` by
    the held-out Bradley-Terry likelihood of ``folds``-fold cross-validation, split by ``groups``
    (trees) when given, so that the choice never sees the test pairs. Seeded and deterministic.
    """
    if head not in ("linear", "mlp"):
        raise UsageError(f"head must be 'linear' or 'mlp', got {head!r}")
    if l2 is None:
        l2 = _choose_l2(chosen, rejected, head, groups, folds, steps, hidden, seed)
    return _fit(chosen, rejected, head, l2, steps, hidden, seed)


def _choose_l2(chosen, rejected, head, groups, folds, steps, hidden, seed) -> float:
    keys = pd.factorize(groups)[0] if groups is not None else np.arange(len(chosen))
    fold_of = np.random.default_rng(seed).permutation(keys.max() + 1)[keys] % folds
    scores = []
    for l2 in L2_GRID:
        loglik = 0.0
        for k in range(folds):
            held = fold_of == k
            if held.all() or not held.any():
                continue
            fitted = _fit(chosen[~held], rejected[~held], head, l2, steps, hidden, seed)
            diff = fitted.reward(chosen[held]) - fitted.reward(rejected[held])
            loglik += float(-np.logaddexp(0.0, -diff).sum())
        scores.append(loglik)
    return L2_GRID[int(np.argmax(scores))]


def _fit(chosen, rejected, head, l2, steps, hidden, seed) -> FrozenHead:
    import torch

    both = np.concatenate([chosen, rejected])
    mean, scale = both.mean(axis=0), both.std(axis=0) + 1e-6
    c = torch.from_numpy(((chosen - mean) / scale).astype(np.float32))
    r = torch.from_numpy(((rejected - mean) / scale).astype(np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dim = chosen.shape[1]
        if head == "linear":
            module = torch.nn.Linear(dim, 1, bias=False)
            torch.nn.init.zeros_(module.weight)
        else:
            module = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    weights = [p for name, p in module.named_parameters() if "weight" in name]
    losses: list[float] = []

    def objective():
        loss = -torch.nn.functional.logsigmoid(module(c) - module(r)).mean()
        return loss + l2 * sum((w**2).sum() for w in weights), loss

    if head == "linear":
        optim = torch.optim.LBFGS(module.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

        def closure():
            optim.zero_grad()
            total, loss = objective()
            total.backward()
            losses.append(loss.item())
            return total

        optim.step(closure)
    else:
        optim = torch.optim.Adam(module.parameters(), lr=1e-2)
        for _ in range(steps):
            optim.zero_grad()
            total, loss = objective()
            total.backward()
            optim.step()
            losses.append(loss.item())
    module.eval()
    return FrozenHead(mean, scale, module, losses)
