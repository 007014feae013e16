"""quantize.py: int8 CPU inference. `Int8Weight` holds a weight quantized once (per output channel,
symmetric) and multiplies it by activations quantized at each call: with PyTorch's oneDNN int8 linear kernel
(`torch.ops.onednn.qlinear_pointwise`, the one PyTorch's own x86 int8 inference uses) on its prepacked copy
of the weight, or with `torch._int_mm`. `int8_decoding()` switches the modules that hold such copies (made by
`Seq2SeqModel.quantize_int8`) over to them, as autocast does for float dtypes.

Where int8 runs is one decision, `Int8Policy` (`int8_policy()`), made once per process from the CPU and, for
each weight, from the weight's size: never from a batch, so that a sentence's translation is the same alone or
batched with others (int8 products are exact integers, and every input row is quantized on its own or with a
fixed scale). The kernel: oneDNN where its int8 linear runs an optimised kernel on this CPU, else
`torch._int_mm`. On oneDNN, whose call has a fixed cost, weights under `ONEDNN_MIN_WEIGHT` entries stay
float32; with `torch._int_mm` every weight is int8. BENCHMARKS.md ("int8 policy") has the measurements.

Inputs known to lie in [-b, b] (an RNN's hidden state, a tanh, a mix of encoder outputs: b = 1) are
quantized with the fixed scale b / 127 (`Int8Weight.input_bound`), so that one oneDNN call does the whole
product, scales and bias included; other inputs get one scale per row, computed at each call and applied
with the bias in a second pass over the output.

Shapes: M rows, K input features, N output features.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

INT8_MAX = 127.0
# |values| of an LSTM's or GRU's hidden state (o * tanh(c); a mix of tanh and the previous state), of a tanh, and
# of any attention-weighted mean of such states never exceed this: int8 takes it as a fixed input range
RNN_OUTPUT_BOUND = 1.0
ONEDNN_MIN_WEIGHT = 1 << 20  # on oneDNN, weights of fewer entries (N x K) stay float32: its call's fixed cost
TINY = 1e-12  # an all-zero row keeps a finite scale
ONEDNN_SLOWDOWN_LIMIT = 10.0  # oneDNN's int8 call this many times slower than `torch._int_mm`: a reference kernel
_local = threading.local()  # per thread, like autocast: whether int8 copies are in use
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Policy:
    """Where int8 runs: the kernel, and which weights (by size) are multiplied in int8. Decided from the CPU and
    the model, never from a batch."""

    kernel: str  # "onednn" | "int_mm"
    min_weight: int  # weights of fewer entries (N x K) are multiplied in float32; 0: every weight in int8

    def int8_for(self, weight: Tensor) -> bool:
        """Whether products with this weight (N, K) run in int8."""
        return weight.numel() >= self.min_weight

    def describe(self) -> str:
        products = "every product" if not self.min_weight else f"products with weights of {self.min_weight:,}+ entries"
        kernel = "oneDNN's int8 linear" if self.kernel == "onednn" else "torch._int_mm"
        return f"int8 inference: {products} in int8 through {kernel}, the rest in float32"


@functools.cache
def int8_policy() -> Int8Policy:
    """This process's int8 policy (logged once): oneDNN where it runs an optimised kernel (`onednn_int8_pays`)."""
    policy = Int8Policy("onednn", ONEDNN_MIN_WEIGHT) if onednn_int8_pays() else Int8Policy("int_mm", 0)
    logger.info(policy.describe())
    return policy


@contextmanager
def int8_decoding(enabled: bool = True) -> Iterator[None]:
    """Within this block (this thread), modules with int8 copies compute with them instead of their float weights."""
    previous = int8_enabled()
    _local.enabled = enabled
    try:
        yield
    finally:
        _local.enabled = previous


def int8_enabled() -> bool:
    """Whether the current thread is inside `int8_decoding()`."""
    return getattr(_local, "enabled", False)


def weight_in_use(weight: Tensor, copies: dict[str, Int8Weight] | None, name: str) -> Tensor | Int8Weight:
    """The matrix a module multiplies by: inside `int8_decoding()` its int8 copy `copies[name]` where it made one
    (`quantize_int8`), else its float `weight`."""
    return copies[name] if copies and name in copies and int8_enabled() else weight


def check_int8_device(device: torch.device) -> None:
    """int8 products run on the CPU only: a model elsewhere is refused with a ValueError."""
    if device.type != "cpu":
        raise ValueError(
            f"int8 decoding runs on the CPU only, but the model is on {device.type!r}; "
            "use device='cpu', or compute_dtype='bfloat16' on a GPU"
        )


def _onednn_pack(qweight: Tensor) -> Tensor | None:
    """qweight (N, K) int8 -> oneDNN's prepacked copy for `qlinear_pointwise`, where the policy's kernel is
    oneDNN; None where `torch._int_mm` serves."""
    if qweight.device.type != "cpu" or int8_policy().kernel != "onednn":
        return None
    return onednn_prepack(qweight)


def onednn_prepack(qweight: Tensor) -> Tensor | None:
    """qweight (N, K) int8 on the CPU -> oneDNN's prepacked copy, whatever its speed; None where PyTorch
    has no oneDNN int8 linear."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.onednn.qlinear_prepack(qweight, None)
    except (AttributeError, RuntimeError):
        return None


@functools.cache
def onednn_int8_pays() -> bool:
    """Whether oneDNN's int8 linear runs an optimised kernel on this CPU, judged once per process by timing one
    8 x 256 x 128 product both ways. Where oneDNN has no optimised kernel for its packed weight it runs its
    reference one, far slower than `torch._int_mm` (BENCHMARKS.md, "int8 policy"); then `torch._int_mm` serves."""
    qweight = torch.ones(128, 256, dtype=torch.int8)  # (N, K)
    packed = onednn_prepack(qweight)
    if packed is None:
        return False
    probe = Int8Weight(qweight.t().contiguous(), torch.ones(128), packed, torch.zeros(128, dtype=torch.long))
    xq = torch.ones(8, 256, dtype=torch.int8)  # (M, K)
    onednn_s = _seconds(lambda: _onednn_product(xq, 1.0, probe, None))
    int_mm_s = _seconds(lambda: torch._int_mm(xq, probe.qweight))
    return onednn_s <= ONEDNN_SLOWDOWN_LIMIT * int_mm_s


def _seconds(product) -> float:
    """The faster of two timed calls of `product`, after one untimed call."""
    product()
    times = []
    for _ in range(2):
        start = time.perf_counter()
        product()
        times.append(time.perf_counter() - start)
    return min(times)


@dataclass(frozen=True)
class Int8Weight:
    """A float weight (N, K) stored as int8 (K, N) with one float scale per output feature (N,)."""

    qweight: Tensor  # (K, N) int8: round(weight / scale), transposed for `torch._int_mm`
    scale: Tensor  # (N,) float32: max |weight| of each output feature / 127
    packed: Tensor | None = None  # the same numbers prepacked for oneDNN's int8 linear, where available
    zero_points: Tensor | None = None  # (N,) int64 zeros: the quantization is symmetric
    weight: Tensor | None = None  # (N, K) float32: the weight quantized (the module's own)
    input_bound: float | None = None  # inputs lie in [-input_bound, input_bound]: one fixed scale for them
    active: bool = True  # the policy multiplies by this weight in int8 (else by `weight`, in float32)

    @classmethod
    def from_float(cls, weight: Tensor, input_bound: float | None = None) -> Int8Weight:
        """weight (N, K) float -> its per-output-channel symmetric int8 copy. `input_bound`: a bound on the
        absolute value of every input it will multiply (None: unknown, each row scaled at each call)."""
        if input_bound is not None and not input_bound > 0:
            raise ValueError(f"input_bound must be positive, got {input_bound!r}")
        weight = weight.detach().float()  # the module's own tensor when it is float32 already (no copy)
        scale = weight.abs().amax(dim=1).clamp(min=TINY) / INT8_MAX  # (N,)
        qweight = torch.round(weight / scale.unsqueeze(1)).to(torch.int8)  # (N, K)
        packed = _onednn_pack(qweight)
        zero_points = None if packed is None else torch.zeros(scale.numel(), dtype=torch.long)
        bound = None if input_bound is None else float(input_bound)
        active = int8_policy().int8_for(weight)
        return cls(qweight.t().contiguous(), scale, packed, zero_points, weight, bound, active)

    def outputs(self, index: Tensor) -> Int8Weight:
        """The same weight restricted to the output features `index` (U,): (N, K) -> (U, K). Multiplied through
        `torch._int_mm` (its products are the same integers as oneDNN's)."""
        return Int8Weight(
            self.qweight.index_select(1, index).contiguous(),
            self.scale.index_select(0, index),
            weight=None if self.weight is None else self.weight.index_select(0, index),
            input_bound=self.input_bound,
            active=self.active,
        )

    def dequantize(self) -> Tensor:
        """The float weight (N, K) these int8 numbers stand for."""
        return (self.qweight.float() * self.scale).t()


def int8_linear(x: Tensor, weight: Int8Weight, bias: Tensor | None = None) -> Tensor:
    """x (..., K) float @ weight -> (..., N) float32, + bias ((N,) or broadcastable to the output).

    x is quantized symmetrically: with the fixed scale `weight.input_bound / 127` where the weight has a
    bound, else each row with its own scale (so a sentence's result never depends on the rest of its batch);
    the int32 products are scaled back by the weight's and the input's scales.
    """
    rows = x if x.dim() == 2 else x.reshape(-1, x.size(-1))  # (..., K) -> (M, K)
    if rows.dtype != torch.float32:
        rows = rows.float()
    fixed = weight.input_bound is not None
    if fixed:
        x_scale: Tensor | float = weight.input_bound / INT8_MAX
        xq = torch.round(rows * (INT8_MAX / weight.input_bound)).to(torch.int8)
    else:
        x_scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=TINY).div_(INT8_MAX)  # (M, 1)
        xq = torch.round(rows / x_scale).to(torch.int8)
    if weight.packed is not None:  # oneDNN: weight scales in the call, and a fixed input scale and 1-D bias too
        fused_bias = fixed and bias is not None and bias.dim() == 1 and bias.dtype == torch.float32
        out = _onednn_product(xq, x_scale if fixed else 1.0, weight, bias if fused_bias else None)  # (M, N)
        factor = None if fixed else x_scale
        bias = None if fused_bias else bias
    else:  # int32 products, scaled here
        out, factor = torch._int_mm(xq, weight.qweight) * x_scale, weight.scale  # (M, N) float32, (N,)
    if x.dim() != 2:
        out = out.view(*x.shape[:-1], -1)  # (..., N)
        factor = factor.view(*x.shape[:-1], 1) if factor is not None and factor.dim() == 2 else factor
    if factor is None:
        return out if bias is None else out.add_(bias)
    return out.mul_(factor) if bias is None else torch.addcmul(bias, out, factor)


def _onednn_product(xq: Tensor, x_scale: float, weight: Int8Weight, bias: Tensor | None) -> Tensor:
    """xq (M, K) int8 @ the packed weight -> (M, N) float32: the int32 products times `x_scale` and the
    weight's scales, plus `bias` (N,) if given, in one oneDNN call."""
    # one row goes in twice: oneDNN's kernel for a single row is far slower (BENCHMARKS.md, "int8 policy"),
    # which greedy decoding of one sentence would pay every step; the row's result is the same
    single = xq.size(0) == 1
    out = torch.ops.onednn.qlinear_pointwise(
        xq.expand(2, -1) if single else xq,
        *(x_scale, 0, weight.packed, weight.scale, weight.zero_points, bias, 1.0, 0, torch.float32, "none", [], ""),
    )
    return out[:1] if single else out


def linear(x: Tensor, weight: Tensor | Int8Weight, bias: Tensor | None = None) -> Tensor:
    """`F.linear` for a float weight (N, K); for an `Int8Weight`, the int8 product where the policy put this
    weight in int8 (`Int8Weight.active`), else the float product with the weight it was made from. A 2-D bias
    is added as is."""
    if isinstance(weight, Int8Weight):
        if weight.active or weight.weight is None:
            return int8_linear(x, weight, bias)
        weight = weight.weight
    return F.linear(x, weight, bias)
