"""attention.py: stateless attention modules, Bahdanau (additive) and Luong (dot / general).

Each module prepares the encoder memory and its keys once per batch (`prepare`) and is then called
with them by the decoder; nothing is cached on `self` but the int8 copies of its projections
(`quantize_int8`, used inside `int8_decoding()`). Padded source positions (mask False) get exactly zero weight.

Shapes: B batch, S source length, T query steps, H decoder hidden, C encoder output width,
A attention width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .quantize import RNN_OUTPUT_BOUND, Int8Weight, linear, weight_in_use


def float32_on_cpu_autocast(tensor: Tensor) -> bool:
    """True where attention should run in float32: CPUs have no fast bf16 tanh / softmax / small bmm, so
    under CPU autocast the attention's elementwise-heavy arithmetic stays in float32 (the big
    matmuls of the RNN and the output layer still use bf16)."""
    return tensor.device.type == "cpu" and torch.is_autocast_enabled("cpu")


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis with `mask` False positions set to exactly zero.

    scores: (B, T, S) or (B, S); mask: (B, S) bool, True where the source token is real.
    """
    if scores.dim() == 3:
        mask = mask.unsqueeze(1)  # (B, S) -> (B, 1, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


class BahdanauAttention(nn.Module):
    """Additive attention: score(q, k) = v^T tanh(W_q q + W_k k)."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(memory_size, attention_size, bias=False)
        self.query_proj = nn.Linear(query_size, attention_size, bias=True)
        self.energy = nn.Linear(attention_size, 1, bias=False)
        self.int8: dict[str, Int8Weight] | None = None

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) int8 copies of the key and query projections (their inputs are RNN outputs)."""
        self.int8 = None
        if enabled:
            self.int8 = {
                name: Int8Weight.from_float(getattr(self, name).weight, input_bound=RNN_OUTPUT_BOUND)
                for name in ("key_proj", "query_proj")
            }

    def _weight(self, name: str) -> Tensor | Int8Weight:
        return weight_in_use(getattr(self, name).weight, self.int8, name)

    def prepare(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, C) -> (memory, keys (B, S, A)) as `forward` takes them; once per batch, not per step."""
        keys = linear(memory, self._weight("key_proj"))
        if float32_on_cpu_autocast(keys):
            return memory.float(), keys.float()
        return memory, keys

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (N, H), keys (M, S, A), memory (M, S, C), mask (M, S) -> context (N, C), weights (N, S).

        N = M * G: each sentence's G consecutive queries (beam search's beams; G = 1 otherwise) share its memory.
        """
        if float32_on_cpu_autocast(keys):
            with torch.autocast("cpu", enabled=False):
                return self.forward(query.float(), keys.float(), memory.float(), mask)
        sentences, length, width = keys.shape
        # the projections called directly (not as modules): these run once per decoding step
        q = linear(query, self._weight("query_proj"), self.query_proj.bias).view(
            sentences, -1, 1, width
        )  # (M, G, 1, A)
        energy = torch.add(q, keys.unsqueeze(1)).tanh_()  # (M, G, S, A)
        scores = torch.matmul(energy, self.energy.weight.view(width))  # (M, G, S, A) @ (A,) -> (M, G, S)
        weights = masked_softmax(scores, mask)  # (M, G, S)
        context = torch.bmm(weights, memory)  # (M, G, S) @ (M, S, C) -> (M, G, C)
        return context.view(query.size(0), -1), weights.view(query.size(0), length)


class LuongAttention(nn.Module):
    """Multiplicative attention: score(q, k) = q . k ('dot') or q . W k ('general')."""

    def __init__(self, query_size: int, memory_size: int, score: str = "general") -> None:
        super().__init__()
        self.score = score
        if score == "general":
            self.key_proj = nn.Linear(memory_size, query_size, bias=False)
        elif score == "dot":
            if memory_size != query_size:
                raise ValueError(
                    f"luong 'dot' attention needs memory_size == query_size, got {memory_size} and {query_size}"
                )
            self.key_proj = None
        else:
            raise ValueError(f"luong score must be one of {{'dot', 'general'}}, got {score!r}")
        self.int8: dict[str, Int8Weight] | None = None

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) an int8 copy of the key projection ('general'; its input is the encoder's output)."""
        self.int8 = None
        if enabled and self.key_proj is not None:
            self.int8 = {"key_proj": Int8Weight.from_float(self.key_proj.weight, input_bound=RNN_OUTPUT_BOUND)}

    def prepare(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, C) -> (memory, keys (B, S, H)) as `forward` takes them; once per batch."""
        if self.key_proj is None:
            return memory, memory
        return memory, linear(memory, weight_in_use(self.key_proj.weight, self.int8, "key_proj"))

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, T, H), keys (B, S, H), memory (B, S, C), mask (B, S) -> context (B, T, C), weights (B, T, S)."""
        scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, H) @ (B, H, S) -> (B, T, S)
        weights = masked_softmax(scores, mask)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, S) @ (B, S, C) -> (B, T, C)
        return context, weights
