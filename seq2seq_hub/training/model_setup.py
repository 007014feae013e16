"""model_setup.py: the model a run starts from and what optimises it: the seeded `Seq2SeqModel`
(pretrained word vectors in its embeddings when given) and its Adam / AdamW optimizer. Placing it on
a device and wrapping it for several processes is the loop's business.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..config import Seq2SeqConfig
from ..modeling.model import Seq2SeqModel
from ..tokenizer import Seq2SeqTokenizer
from .config import TrainConfig
from .embeddings import load_pretrained_embeddings


def build_model(
    cfg: TrainConfig, model_config: Seq2SeqConfig, tokenizer: Seq2SeqTokenizer, log: Callable[[str], None]
) -> Seq2SeqModel:
    """A fresh model seeded with `cfg.seed`, its embeddings filled from `src_embeddings` / `tgt_embeddings`;
    with `init_from`, the weights of that model folder (its config was checked against `model_config`)."""
    torch.manual_seed(cfg.seed)
    model = Seq2SeqModel(model_config)
    if cfg.init_from:
        start = Seq2SeqModel.from_pretrained(cfg.init_from)
        model.load_state_dict(start.state_dict(), strict=True)  # float16 storage -> this model's float32
        log(f"model: starting from the weights of {cfg.init_from} ({start.num_parameters():,} parameters)")
    for side, path in (("source", cfg.src_embeddings), ("target", cfg.tgt_embeddings)):
        if not path:
            continue
        module = model.encoder.embedding if side == "source" else model.decoder.embedding
        tok = tokenizer.source if side == "source" else tokenizer.target
        found, total = load_pretrained_embeddings(module, tok, path)
        log(
            f"{side} embeddings: {found:,} of {total:,} vocabulary entries initialised "
            f"from {path} ({found / max(total, 1):.1%} coverage)"
        )
    return model


def build_optimizer(cfg: TrainConfig, model: Seq2SeqModel) -> torch.optim.Optimizer:
    """Adam or AdamW over the trainable parameters (the learning rate is set before every step)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return optim(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
