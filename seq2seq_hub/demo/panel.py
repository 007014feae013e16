"""panel.py: the model panel, Markdown describing the loaded model: languages, architecture, size, data,
training facts and scores.

Facts come from the model's config and from the model card's metadata as `seq2seq_hub.card` reads it
(never from the card's Markdown); every piece of card text is made inert before it is shown.
"""

from __future__ import annotations

import re
from typing import Any

from ..card import LANGUAGE_NAMES, attention_name, read_model_card

HIDDEN_TRAINING_FACTS = {"reproduce"}  # long commands: in the card itself, not in the panel


def inert(value: Any, limit: int = 200) -> str:
    """Card text made inert in Markdown: no HTML, no links, no table breaks."""
    text = " ".join(str(value).split())[:limit]
    return re.sub(r"([\\`*_\[\]<>|#!])", r"\\\1", text)


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def _architecture_rows(translator: Any) -> list[tuple[str, str]]:
    cfg = translator.config
    encoder = f"{'bidirectional ' if cfg.bidirectional else ''}{cfg.cell.upper()}"
    params = translator.model.num_parameters()
    vocab = (
        f"{cfg.src_vocab_size:,} shared subwords"
        if cfg.shared_vocab or translator.tokenizer.joint
        else f"{cfg.src_vocab_size:,} source / {cfg.tgt_vocab_size:,} target subwords"
    )
    members = len(getattr(translator, "members", [translator.model]))
    ensemble = f"an ensemble of {members} " if members > 1 else ""
    return [
        ("languages", f"{inert(language_name(cfg.src_lang))} → {inert(language_name(cfg.tgt_lang))}"),
        (
            "architecture",
            f"{ensemble}{encoder} encoder-decoder{'s' if members > 1 else ''}, {attention_name(cfg)} attention",
        ),
        ("layers", f"{cfg.encoder_layers} encoder, {cfg.decoder_layers} decoder"),
        ("sizes", f"embedding {cfg.embedding_size}, hidden {cfg.hidden_size}"),
        ("parameters", f"{params / 1e6:.2f}M ({params:,})"),
        ("vocabulary", f"{vocab} (byte-level BPE)"),
        ("max length", f"{cfg.max_source_length} source / {cfg.max_target_length} target tokens"),
    ]


def model_markdown(translator: Any) -> str:
    """The model panel of a `Translator` (or anything with its `config`, `model`, `tokenizer`, `card`)."""
    card = read_model_card(translator.card)
    rows = _architecture_rows(translator)
    if card.datasets:
        rows.append(("datasets", ", ".join(inert(d) for d in card.datasets)))
    rows += [(inert(k, 40), inert(v)) for k, v in card.training.items() if k not in HIDDEN_TRAINING_FACTS]
    lines = [f"- **{key}**: {value}" for key, value in rows]
    lines += ["", "### Scores (from the model card)", ""]
    if card.scores:
        lines += ["| metric | value | test set |", "|---|---|---|"]
        lines += [f"| {inert(s.name, 40)} | {s.value:.2f} | {inert(s.dataset, 80)} |" for s in card.scores]
    else:
        lines.append("The model card reports no scores." if translator.card else "This model has no model card.")
    return "\n".join(lines)
