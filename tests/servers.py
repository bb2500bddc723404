"""Helpers of the tests that start a real server: a free port of the test's own range."""

from __future__ import annotations

import socket

import pytest


def free_port(ports: range) -> int:
    """The first port of ``ports`` that nothing on 127.0.0.1 listens on (skip when none)."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free port in {ports.start}-{ports.stop - 1}")
