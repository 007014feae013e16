"""seq2seq-hub: attention-based recurrent sequence-to-sequence translation, shared on the Hub.

The public names are imported on first use (PEP 562), so that `seq2seq-hub` commands start without torch
and can set up the process first (training sets OpenMP's wait policy before torch loads).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DecodingOptions": ".decoding",
    "Hypothesis": ".hypothesis",
    "RawHypothesis": ".search",
    "Seq2SeqConfig": ".config",
    "Seq2SeqModel": ".modeling.model",
    "Seq2SeqOutput": ".modeling.model",
    "Seq2SeqTokenizer": ".tokenizer",
    "Translator": ".translator",
    "list_models": ".zoo",
    "load_direction": ".zoo",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'seq2seq_hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
