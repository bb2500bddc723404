"""Unified social credit code (统一社会信用代码, GB 32100-2015) validation."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
#: Weights 3^(i-1) mod 31 for positions 1-17.
WEIGHTS = [pow(3, i, 31) for i in range(17)]


def normalise(code: str) -> str:
    """Upper-case and strip a code as typed."""
    return code.strip().upper()


def check_character(first17: str) -> str:
    """The position-18 check character for the first 17 characters."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def form_problem(code: str) -> str | None:
    """Why ``code`` (already normalised) does not have the form of a code (18 characters of
    the alphabet), or None when it has; an admin cannot waive this."""
    if len(code) != 18:
        return f"A unified social credit code has 18 characters, not {len(code)}."
    bad = sorted({ch for ch in code[:17] if ch not in _VALUE})
    if bad:
        return (
            f"Characters not allowed in a unified social credit code: {''.join(bad)} "
            "(I, O, S, V and Z are never used)."
        )
    if code[17] not in _VALUE:
        return _wrong_check(code)
    return None


def _wrong_check(code: str) -> str | None:
    expected = check_character(code[:17])
    if code[17] != expected:
        return f"Check character is {expected}, not {code[17]} (GB 32100-2015)."
    return None


def problem(code: str) -> str | None:
    """Why ``code`` (already normalised) is not a valid code, or None when it is."""
    return form_problem(code) or _wrong_check(code)
