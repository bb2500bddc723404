"""Unified social credit code rules (GB 32100-2015)."""

import pytest

from registry import uscc


def test_reference_code_is_valid():
    assert uscc.problem("91350100M000100Y43") is None


def test_wrong_check_character_is_named():
    assert uscc.problem("91350100M000100Y4Z") == "Check character is 3, not Z (GB 32100-2015)."


@pytest.mark.parametrize("code", ["9135010", "91350100M000100Y431"])
def test_wrong_length(code):
    assert "18 characters" in uscc.problem(code)


def test_forbidden_letters():
    assert "I, O, S, V and Z" in uscc.problem("91350100I000100Y43")


def test_weights_are_powers_of_three():
    assert uscc.WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def test_check_value_31_becomes_zero():
    # Find a body whose weighted sum is a multiple of 31: the check character is then 0.
    for last in uscc.ALPHABET:
        body = "9133028273000001" + last
        total = sum(uscc.ALPHABET.index(c) * w for c, w in zip(body, uscc.WEIGHTS, strict=True))
        if total % 31 == 0:
            assert uscc.check_character(body) == "0"
            return
    pytest.skip("no such body in this family")
