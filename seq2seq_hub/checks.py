"""checks.py: the one vocabulary of checks for values that a user, a file or a request gives: numbers in a
range, choices, true/false, strings. Each check returns None or one problem that names the field, the
value and what is allowed, worded the same way everywhere ('beam size must be an integer in [1, 16], got
0'); callers collect the problems and raise them together. Knows nothing of what the values mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def is_number(value: Any) -> bool:
    """An int or a float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def range_text(low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False) -> str:
    """'in [1, 16]', 'in [0, 1)', '>= 0', '> 0', '<= 5', or '' when unbounded."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_shown(low)}, {_shown(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_shown(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_shown(high)}"
    return ""


def number_problem(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    integer: bool = False,
    low_open: bool = False,
    high_open: bool = False,
) -> str | None:
    """None when `value` is an int (or, unless `integer`, a finite float) within the bounds; else the problem.
    An open integer bound is stated closed: 'an integer >= 1', not '> 0'."""
    if integer and low_open and isinstance(low, int):
        low, low_open = low + 1, False
    fits = isinstance(value, int) and not isinstance(value, bool) if integer else is_number(value)
    if fits and not integer and not math.isfinite(value):
        fits = False
    if fits and low is not None:
        fits = value > low if low_open else value >= low
    if fits and high is not None:
        fits = value < high if high_open else value <= high
    if fits:
        return None
    allowed = range_text(low, high, low_open=low_open, high_open=high_open)
    return f"{name} must be {'an integer' if integer else 'a number'}{' ' + allowed if allowed else ''}, got {value!r}"


def choice_problem(name: str, value: Any, choices: Iterable[Any]) -> str | None:
    """None when `value` is one of `choices`; else the problem, listing them."""
    choices = tuple(choices)
    if value in choices:
        return None
    return f"{name} must be one of {{{', '.join(repr(c) for c in sorted(choices))}}}, got {value!r}"


def bool_problem(name: str, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"


def string_problem(name: str, value: Any) -> str | None:
    return None if isinstance(value, str) else f"{name} must be a string, got {describe(value)}"


def describe(value: Any) -> str:
    """What kind of value this is, for an error message: 'a list of int, str', 'dict', 'None'."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {', '.join(kinds) or 'nothing'}"
    return type(value).__name__


def raise_problems(problems: Iterable[str | None], prefix: str = "", error: type[Exception] = ValueError) -> None:
    """Raise one `error` listing every problem (None entries are no problem), after `prefix`."""
    found = [p for p in problems if p]
    if found:
        raise error(prefix + "; ".join(found))
