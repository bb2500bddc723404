"""Portable column types."""

from __future__ import annotations

import json

import peewee as pw


class JSONField(pw.TextField):
    """JSON stored as text on every database, Chinese kept unescaped.

    peewee's own JSONField binds its database hooks at table creation, which does not play
    well with a database proxy rebound per test; text JSON is portable and sufficient here
    (nothing queries inside these documents).
    """

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        if value is None:
            return None
        return json.loads(value)
