"""Languages: the one message catalogue, the language of a request, and the translation of
messages written in English (problem details, field messages).

The catalogue is ``registry/translations/zh/LC_MESSAGES/messages.po`` (compiled to the
committed ``messages.mo`` by ``make messages``; a test keeps the two in step). The code speaks
English; a message is translated where it leaves the service, in the caller's language:

- API paths (:data:`NEGOTIATED_PREFIXES`) answer in the language ``Accept-Language`` prefers,
  English unless it prefers Chinese; every other path (the web pages) is always Chinese.
- A catalogue entry may hold ``{name}`` placeholders (``No carrier {carrier_id}.``): a message
  built from it with any values is found by that pattern and translated with the same values,
  so marshmallow's and webargs' messages, ``abort`` messages and :class:`DomainError` messages
  need no second list of their own. Values that are themselves catalogue entries (``An
  operator``) are translated too.

The web pages call :func:`gettext`/:func:`lazy_gettext` (Flask-Babel's) and
:func:`translate_errors` for the field messages of a form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale, get_translations, gettext, lazy_gettext

from registry.errors import with_article

__all__ = [
    "LANGUAGES",
    "gettext",
    "init_app",
    "is_negotiated",
    "lazy_gettext",
    "translate",
    "translate_errors",
    "with_article",
]

#: Languages the service answers in; the first is the source language of every message.
LANGUAGES = ("en", "zh")
#: Path prefixes whose language follows ``Accept-Language`` (machine clients); every other
#: path is a page for people of this city and is Chinese.
NEGOTIATED_PREFIXES = ("/api/", "/healthz", "/readyz")

babel = Babel()

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: A nested field message as flattened for the client: ``0.organization_id: Missing data…``.
_FIELD_PATH = re.compile(r"(?P<path>[\w.\[\]-]+): (?P<message>.+)", re.DOTALL)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel to ``app`` with the locale rule above (API answers carry ``Vary:
    Accept-Language``: ``registry.api.common.VARY``)."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)


def is_negotiated(path: str) -> bool:
    """Whether ``path`` answers in the language of ``Accept-Language`` (an API path)."""
    return path.startswith(NEGOTIATED_PREFIXES) or path == "/api"


def select_locale() -> str:
    """The language of the current request (English outside a request: CLI, jobs)."""
    if not has_request_context():
        return LANGUAGES[0]
    if not is_negotiated(request.path):
        return "zh"
    # The most preferred language we speak, by its primary subtag (zh-Hans-CN is zh); werkzeug's
    # best_match would take an exact "en;q=0.5" over a preferred "zh-CN;q=0.9".
    for tag, quality in request.accept_languages:
        language = tag.replace("_", "-").split("-")[0].lower()
        if quality > 0 and language in LANGUAGES:
            return language
    return LANGUAGES[0]


def _patterns(translations) -> list[tuple[re.Pattern, str]]:
    """The catalogue's entries with placeholders as patterns, the most specific first."""
    cached = getattr(translations, "_registry_patterns", None)
    if cached is not None:
        return cached
    patterns = []
    for msgid, msgstr in getattr(translations, "_catalog", {}).items():
        if not isinstance(msgid, str) or not msgstr or "{" not in msgid:
            continue
        parts = _PLACEHOLDER.split(msgid)
        regex, seen = "", set()
        for index, part in enumerate(parts):
            if index % 2 == 0:
                regex += re.escape(part)
            elif part in seen:
                regex += f"(?P={part})"
            else:
                seen.add(part)
                regex += f"(?P<{part}>.+?)"
        literal = sum(len(part) for part in parts[::2])
        patterns.append((literal, re.compile(regex, re.DOTALL), msgstr))
    patterns.sort(key=lambda entry: -entry[0])
    cached = [(pattern, msgstr) for _, pattern, msgstr in patterns]
    translations._registry_patterns = cached
    return cached


def _is_source_language() -> bool:
    locale = get_locale()
    return locale is None or locale.language == LANGUAGES[0]


def translate(message) -> str:
    """``message`` (English, or a lazy string) in the current request's language."""
    text = str(message)
    if not text or _is_source_language():
        return text
    translations = get_translations()
    translated = translations.ugettext(text)
    if translated != text:
        return translated
    for pattern, msgstr in _patterns(translations):
        match = pattern.fullmatch(text)
        if match:
            values = {name: translations.ugettext(v) for name, v in match.groupdict().items()}
            return _PLACEHOLDER.sub(lambda m, values=values: values[m.group(1)], msgstr)
    field = _FIELD_PATH.fullmatch(text)
    if field:
        inner = translate(field.group("message"))
        if inner != field.group("message"):
            return f"{field.group('path')}: {inner}"
    return text


def translate_errors(messages):
    """Field messages (a dict of lists, nested as marshmallow makes them, or a list or one
    message) with every message translated into the current language; keys are kept."""
    if isinstance(messages, Mapping):
        return {key: translate_errors(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [translate_errors(value) for value in messages]
    if messages is None or isinstance(messages, bool | int | float):
        return messages
    return translate(messages)
