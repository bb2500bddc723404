"""Strict JSON in and safe JSON out: the one definition of the JSON this service accepts.

Python's ``json`` accepts more than RFC 8259 allows: ``NaN`` and ``Infinity``, lone UTF-16
surrogates (``"\\ud800"``, which no UTF-8 text can hold) and nesting limited only by the
interpreter's recursion limit. Stored, such values make every later answer that shows them
invalid JSON (or a 500 while encoding it), and break every webhook receiver. So bodies are
parsed strictly (:func:`parse`), and anything written out is made valid first
(:func:`safe`), for values stored before the strict parse existed.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Deepest nesting of arrays and objects accepted in a body; no field of the API nests
#: anywhere near this, and a limit keeps every recursive walk of a document safe.
MAX_DEPTH = 32
NUL = "\x00"


class InvalidJSON(ValueError):
    """A body that is not JSON at all (400): bad syntax or bad UTF-8."""


class UnacceptableJSON(ValueError):
    """JSON this service does not accept (422); ``errors`` name the paths, by field."""

    def __init__(self, message: str, errors: dict[str, list[str]]):
        super().__init__(message)
        self.errors = errors


def parse(raw: bytes) -> Any:
    """The document in ``raw`` (UTF-8), refusing ``NaN``/``Infinity``, lone surrogates, NUL
    characters and nesting deeper than :data:`MAX_DEPTH`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJSON(f"The body is not UTF-8 text ({error.reason}).") from error
    try:
        document = json.loads(text)
    except RecursionError as error:
        raise _too_deep("_body") from error
    except json.JSONDecodeError as error:
        raise InvalidJSON(f"The body is not valid JSON: {error}.") from error
    errors = problems(document)
    if errors:
        raise UnacceptableJSON("The request body has invalid fields.", errors)
    return document


def _too_deep(path: str) -> UnacceptableJSON:
    message = f"JSON may nest at most {MAX_DEPTH} arrays or objects deep."
    return UnacceptableJSON(message, {path: [message]})


def _text_problem(text: str) -> str | None:
    if NUL in text:
        return "Text may not contain the NUL character (U+0000)."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Text may not contain a lone surrogate (U+D800 to U+DFFF)."
    return None


def problems(document: Any) -> dict[str, list[str]]:
    """What is wrong in a parsed document, keyed by top-level field (``_body`` for the whole),
    the inner path leading each message. Walks iteratively, so depth cannot crash it."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, str, int]] = [(document, "_body", "", 0)]

    def add(field: str, path: str, message: str) -> None:
        errors.setdefault(field, []).append(f"{path}: {message}" if path else message)

    while stack:
        value, field, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                add(field, path, f"JSON may nest at most {MAX_DEPTH} arrays or objects deep.")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                name = str(key)
                if isinstance(key, str) and _text_problem(key):
                    add(field, path, f"key {key!r}: {_text_problem(key)}")
                    continue
                if depth == 0 and isinstance(value, dict):
                    stack.append((item, name, "", depth + 1))
                else:
                    stack.append((item, field, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(value, str):
            message = _text_problem(value)
            if message:
                add(field, path, message)
        elif isinstance(value, float) and not math.isfinite(value):
            # NaN and Infinity (or a number too large for a double, read as infinity).
            add(field, path, f"{value} is not a JSON number.")
    return errors


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` that always writes valid JSON: values are passed through :func:`safe`
    only when they need it (fast C path otherwise)."""
    try:
        text = json.dumps(value, allow_nan=False, **kwargs)
        text.encode("utf-8")
        return text
    except ValueError:  # a non-finite number, or a lone surrogate (UnicodeEncodeError)
        return json.dumps(safe(value), allow_nan=False, **kwargs)


def safe(value: Any) -> Any:
    """``value`` made valid JSON: non-finite numbers become null and lone surrogates U+FFFD.

    For writing out what was stored before bodies were parsed strictly; valid values pass
    unchanged (the common case costs one walk)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return value
    if isinstance(value, dict):
        return {safe(key): safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [safe(item) for item in value]
    return value
