"""Forms validated with the API's own marshmallow schemas (issue 13 item 6).

A page posts an HTML form; :func:`validate` turns its fields into the JSON the API would
receive (empty fields left out, or sent as null when clearing is allowed), loads it with
the API's schema and answers the data or the field errors in Chinese (the one message
catalogue, ``registry.i18n``), so that a page and the API accept and refuse exactly the
same input. :func:`domain_errors` does the same for a domain function's refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import marshmallow as ma

from registry.errors import DomainError
from registry.i18n import translate, translate_errors


def flat_errors(messages: dict) -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{field: [text, …]}`` (inner paths lead the text),
    the way the API's problem+json shows them."""
    from registry.api.common import _field_messages

    errors: dict[str, list[str]] = {}
    _field_messages(messages, errors)
    return errors


def form_data(form, fields: Iterable[str], *, nullable: Iterable[str] = ()) -> dict:
    """The JSON body an API client would send for these form fields: a field left empty is
    absent, or null when it is one the form may clear (``nullable``)."""
    data: dict = {}
    clearable = set(nullable)
    for name in fields:
        if name not in form:
            continue
        value = form.get(name, "").strip()
        if value:
            data[name] = value
        elif name in clearable:
            data[name] = None
    return data


def validate(schema: ma.Schema, data: dict) -> tuple[dict | None, dict[str, list[str]]]:
    """Load ``data`` with ``schema``: ``(loaded, {})`` or ``(None, field errors)``."""
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        return None, flat_errors(translate_errors(error.messages))


def domain_errors(error: DomainError) -> dict[str, list[str]]:
    """A domain function's refusal as a form's errors, in Chinese: its field messages next to
    their fields, and its message above the form (unless field messages say it all)."""
    errors = flat_errors(translate_errors(error.errors or {}))
    if not errors or error.status != 422:
        errors.setdefault("_body", []).append(translate(error.message))
    return errors


#: A flattened nested message: ``0.uscc: Not a valid code.``.
_INNER_PATH = re.compile(r"(?P<path>[\w.]+): (?P<text>.+)", re.DOTALL)


def name_inner_fields(
    errors: dict[str, list[str]], field: str, labels: Mapping[str, str], item: str = ""
) -> None:
    """Say the inner path of ``field``'s nested messages in words, in place: with ``labels``
    for inner fields and ``item`` for list positions, ``0.uscc: …`` becomes
    ``合作单位 1 · 统一社会信用代码：…``."""
    named = []
    for text in errors.get(field, []):
        found = _INNER_PATH.fullmatch(text)
        if found:
            words = [
                f"{item} {int(part) + 1}".strip() if part.isdigit() else labels.get(part, part)
                for part in found.group("path").split(".")
            ]
            text = " · ".join(words) + "：" + found.group("text")
        named.append(text)
    if field in errors:
        errors[field] = named
