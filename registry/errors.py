"""The error a domain function raises when it refuses a change (a leaf module: imports nothing
of the registry, so every layer can raise it)."""

from __future__ import annotations


class DomainError(Exception):
    """A refused change: ``status`` is the HTTP answer (404, 409, 422), ``errors`` per field."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def with_article(noun: str, capital: bool = False) -> str:
    """``noun`` after its English indefinite article (``an operator``, ``a partner``), for
    messages that name a role or a code."""
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    return f"{article.capitalize() if capital else article} {noun}"
