"""The one vocabulary of checks: every range is worded the same way, and what is not a number is refused."""

from __future__ import annotations

import pytest

from seq2seq_hub.checks import bool_problem, choice_problem, describe, number_problem, raise_problems, string_problem


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("beams", 0, 1, 16), {"integer": True}, "beams must be an integer in [1, 16], got 0"),
        (("beams", 2.5, 1, 16), {"integer": True}, "beams must be an integer in [1, 16], got 2.5"),
        (("beams", True, 1, 16), {"integer": True}, "beams must be an integer in [1, 16], got True"),
        (("p", 0.0, 0.0, 1.0), {"low_open": True}, "p must be a number in (0, 1], got 0.0"),
        (("dropout", 1.0, 0.0, 1.0), {"high_open": True}, "dropout must be a number in [0, 1), got 1.0"),
        (("lr", float("nan"), 0), {"low_open": True}, "lr must be a number > 0, got nan"),
        (("lr", float("inf"), 0), {"low_open": True}, "lr must be a number > 0, got inf"),
        (("steps", -1, 0), {"integer": True}, "steps must be an integer >= 0, got -1"),
        (("rows", 0, 0), {"integer": True, "low_open": True}, "rows must be an integer >= 1, got 0"),
        (("x", "3", None, 5), {}, "x must be a number <= 5, got '3'"),
    ],
)
def test_number_problems_name_the_field_the_value_and_the_range(args, kwargs, message):
    assert number_problem(*args, **kwargs) == message


def test_values_in_range_are_no_problem():
    assert number_problem("beams", 16, 1, 16, integer=True) is None
    assert number_problem("p", 1.0, 0.0, 1.0, low_open=True) is None
    assert number_problem("n", 3) is None


def test_choices_booleans_strings_and_descriptions():
    assert choice_problem("cell", "lstn", ("lstm", "gru")) == "cell must be one of {'gru', 'lstm'}, got 'lstn'"
    assert choice_problem("cell", "gru", ("lstm", "gru")) is None
    assert bool_problem("merge", 1) == "merge must be true or false, got 1"
    assert string_problem("text", ["a"]) == "text must be a string, got a list of str"
    assert describe(None) == "None" and describe({}) == "dict"


def test_raise_problems_joins_every_problem_into_one_error():
    raise_problems([None, None])
    with pytest.raises(TypeError, match=r"^bad: a; b$"):
        raise_problems(["a", None, "b"], "bad: ", error=TypeError)
