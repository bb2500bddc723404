"""Helpers of the tests that start a real server: a free port of the test's own range."""

from __future__ import annotations

import random
import socket

import pytest


def free_port(ports: range) -> int:
    """A port of ``ports`` that nothing on 127.0.0.1 listens on (skip when none).

    Tried in random order: CI runs the SQLite and PostgreSQL suites side by side, and two
    servers started at the same moment must not both pick the first free port."""
    for port in random.sample(ports, len(ports)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")
