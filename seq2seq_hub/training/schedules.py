"""schedules.py: teacher-forcing ratio and learning-rate schedules as pure functions of the step.

Pure functions make resuming exact: the schedule state is just the step number (and, for
'plateau', one scale factor the trainer stores in its checkpoint).
"""

from __future__ import annotations

import math

TF_SCHEDULES = ("constant", "linear", "exponential", "inverse_sigmoid")
LR_SCHEDULES = ("constant", "inverse_sqrt", "linear", "cosine", "plateau")


def teacher_forcing_ratio(schedule: str, step: int, start: float, end: float, steps: int) -> float:
    """Ratio at `step`, moving from `start` (step 0) towards `end` over `steps` steps.

    constant: always `start`. linear: straight line, reaching `end` at `steps`.
    exponential: end + (start - end) * exp(-5 step / steps) (about 99% of the way at `steps`).
    inverse_sigmoid: end + (start - end) / (1 + exp(10 (step / steps - 1/2))), the S-curve of
    Bengio et al. (2015) centred at steps / 2.
    """
    if schedule == "constant":
        return start
    progress = step / max(steps, 1)
    if schedule == "linear":
        return start + (end - start) * min(progress, 1.0)
    if schedule == "exponential":
        return end + (start - end) * math.exp(-5.0 * progress)
    if schedule == "inverse_sigmoid":
        x = 10.0 * (progress - 0.5)
        return end + (start - end) / (1.0 + math.exp(min(x, 700.0)))
    raise ValueError(f"tf_schedule must be one of {set(TF_SCHEDULES)}, got {schedule!r}")


def learning_rate_scale(schedule: str, step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at `step` (1-based within warmup)."""
    step = max(step, 1)
    if warmup_steps and step < warmup_steps:
        return step / warmup_steps
    if schedule in ("constant", "plateau"):
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(warmup_steps, 1) / step)
    after = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    after = min(max(after, 0.0), 1.0)
    if schedule == "linear":
        return max(1.0 - after, 0.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * after))
    raise ValueError(f"lr_schedule must be one of {set(LR_SCHEDULES)}, got {schedule!r}")
