"""quantize.py: int8 CPU inference. `Int8Weight` holds a weight quantized once (per output channel,
symmetric) and multiplies it by activations quantized at each call (see below): with PyTorch's oneDNN int8
linear kernel (`torch.ops.onednn.qlinear_pointwise`, the one PyTorch's own x86 int8 inference uses; AMX or
VNNI where the CPU has them) on its prepacked copy of the weight, or `torch._int_mm` where that is missing or
runs only oneDNN's reference kernel (`onednn_int8_pays`);
`int8_decoding()` switches the modules that hold such copies (made by `Seq2SeqModel.quantize_int8`)
over to them, as autocast does for float dtypes. Which matrices get copies is the modules' business.

`linear()` runs a product in int8 only where int8 pays: oneDNN's int8 call and the activations'
quantization cost a fixed ~50-80 us on this class of CPU, more than a small float32 product (5 beam rows
through a 1024 x 256 LSTM matrix: 22 us in float32, 84 us in int8; the 6000 x 256 output layer: 274 vs
118 us; 320 rows through the LSTM matrix: int8 ahead). Products under `INT8_MIN_MACS` multiply-adds use
the float weight the int8 copy was made from, as the int8 encoder does below `INT8_RNN_MIN_BATCH`; on the
`torch._int_mm` path, which has no such fixed cost, every product is int8.

Inputs known to lie in [-b, b] (an RNN's hidden state, a tanh, a mix of encoder outputs: b = 1) are
quantized with the fixed scale b / 127 (`Int8Weight.input_bound`), so that one oneDNN call does the
whole product, scales and bias included; other inputs get one scale per row, computed at each call and
applied with the bias in a second pass over the output. Either way a row's result does not depend on the
other rows of its batch. The fixed scale is what makes int8 pay for large products: 640 beam rows through
the 6000 x 256 output layer took 1.0 ms with it, 10 ms with scales per row and 7 ms in float32 (2 cores,
torch 2.13); below about 4M multiply-adds float32 stays ahead either way (5 rows through a 1024 x 256
matrix: 20 us float32, 45 us fixed scale).

Shapes: M rows, K input features, N output features.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

INT8_MAX = 127.0
INT8_MIN_MACS = 1 << 22  # rows x N x K below this: float32 (measured crossover, see above)
TINY = 1e-12  # an all-zero row keeps a finite scale
ONEDNN_SLOWDOWN_LIMIT = 10.0  # oneDNN's int8 call this many times slower than `torch._int_mm`: a reference kernel
_local = threading.local()  # per thread, like autocast: whether int8 copies are in use


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


def check_int8_device(device: torch.device) -> None:
    """int8 products run on the CPU only: a model elsewhere is refused with a ValueError."""
    if device.type != "cpu":
        raise ValueError(
            f"int8 decoding runs on the CPU only, but the model is on {device.type!r}; "
            "use device='cpu', or compute_dtype='bfloat16' on a GPU"
        )


def _onednn_pack(qweight: Tensor) -> Tensor | None:
    """qweight (N, K) int8 -> oneDNN's prepacked copy for `qlinear_pointwise`; None where PyTorch has no oneDNN
    int8 linear (a build without it, a CPU it does not support) or only its reference kernel
    (`onednn_int8_pays`), and `torch._int_mm` serves instead."""
    if qweight.device.type != "cpu" or not onednn_int8_pays():
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
    8 x 256 x 128 product both ways (about 12 ms where it does not). Where oneDNN has no optimised kernel for
    its packed weight it runs its reference one, 100-1000x slower than `torch._int_mm` (seen: an AMD EPYC with
    AVX-512 VNNI but no AMX, torch 2.13: 5 beam rows through the 6000 x 256 output layer took 87 ms, against
    0.1 ms with `torch._int_mm`); then `torch._int_mm` serves."""
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
    weight: Tensor | None = None  # (N, K) float32: the weight quantized (the module's own), for small products
    input_bound: float | None = None  # inputs lie in [-input_bound, input_bound]: one fixed scale for them

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
        return cls(qweight.t().contiguous(), scale, packed, zero_points, weight, bound)

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
    # one row goes in twice: oneDNN's kernel for a single row can be 100x slower (22 ms instead of 0.1 ms
    # for 1 x 256 x 6000 measured with torch 2.13), which greedy decoding of one sentence would pay every step
    single = xq.size(0) == 1
    out = torch.ops.onednn.qlinear_pointwise(
        xq.expand(2, -1) if single else xq,
        *(x_scale, 0, weight.packed, weight.scale, weight.zero_points, bias, 1.0, 0, torch.float32, "none", [], ""),
    )
    return out[:1] if single else out


def linear(x: Tensor, weight: Tensor | Int8Weight, bias: Tensor | None = None) -> Tensor:
    """`F.linear` for a float weight (N, K); for an `Int8Weight`, the int8 product, or, where oneDNN does it
    and the float weight is known, the float one for products under `INT8_MIN_MACS` multiply-adds (oneDNN's
    fixed call cost). `torch._int_mm` has no such cost: there every product is int8 (seen on an AMD EPYC:
    5 rows x 1024 x 256 in 33 us against 60-83 us in float32; the 4-model flagship's beam-5 sentence p50
    61 ms instead of 88-90 ms with small products in float32). A 2-D bias is added as is."""
    if isinstance(weight, Int8Weight):
        # rows x K x N multiply-adds under INT8_MIN_MACS: float32, where oneDNN would do it
        if weight.weight is None or weight.packed is None or x.numel() * weight.scale.numel() >= INT8_MIN_MACS:
            return int8_linear(x, weight, bias)
        weight = weight.weight
    return F.linear(x, weight, bias)
