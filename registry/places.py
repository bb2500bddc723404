"""The towns and subdistricts of the configured city."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import current_app

DEFAULT_TOWNS_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "towns.json"


@cache
def _load(path: str) -> tuple[str, ...]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return tuple(entry["name"] for entry in data["towns"])


def towns() -> tuple[str, ...]:
    """Names accepted in ``town`` fields, from ``REGISTRY_TOWNS_FILE`` or the fixtures."""
    return _load(current_app.config.get("TOWNS_FILE") or str(DEFAULT_TOWNS_FILE))
