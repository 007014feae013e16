"""arguments.py: checks of the plain arguments `Translator.translate` takes besides its decoding options
(batch size, the type of what was passed), worded for the user; `DecodingOptions` checks the rest.
"""

from __future__ import annotations

from typing import Any


def batch_size_problem(batch_size: Any) -> str | None:
    """Why `batch_size` is not usable, or None when it is."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 4096:
        return f"batch_size must be an integer in [1, 4096], got {batch_size!r}"
    return None


def describe(value: Any) -> str:
    """What kind of value this is, for an error message: 'a list of int, str', 'dict'."""
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {', '.join(kinds) or 'nothing'}"
    return type(value).__name__
