"""``carrier_count`` held to a fresh count (migration 16): after every test (``conftest``)
and inside tests of the triggers."""

from __future__ import annotations

from registry import db


def assert_carrier_counts_exact() -> None:
    """``carrier_count`` (kept by triggers) equals counting the carriers: checked after every
    test on the app's database, so that every write path the suite takes is held to it."""
    kept = db.database.execute_sql(
        "SELECT type, level, status, town, carriers FROM carrier_count WHERE carriers <> 0 "
        "ORDER BY 1, 2, 3, 4"
    ).fetchall()
    counted = db.database.execute_sql(
        "SELECT type, level, status, COALESCE(town, ''), COUNT(*) FROM carrier "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ).fetchall()
    assert [tuple(row) for row in kept] == [tuple(row) for row in counted]
