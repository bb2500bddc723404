"""The README's walkthrough runs as written (as Datasette tests its documentation).

The ``sh`` block under "A walk through the API" is run with bash, unchanged, against a
server started here on a fresh demo database: the only thing the test gives it is where the
API is (``API``, which the block itself defaults to ``make run``'s address). Every ``curl -f``
fails the script on an answer ≥ 400, so a stale id or ETag in the README fails this test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")
REGISTRY = str(Path(sys.executable).parent / "registry")
#: The ports this suite may use for servers it starts.
PORTS = range(18400, 18450)


def walkthrough() -> str:
    """The first ``sh`` block after the walkthrough heading."""
    section = README.split("## A walk through the API", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture
def served_demo(tmp_path):
    """A fresh SQLite demo served on 127.0.0.1 (stopped by PID, also when the test fails)."""
    port = free_port(PORTS)
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'walkthrough.db'}",
        "REGISTRY_SCHEDULER": "0",
        "REGISTRY_PORT": str(port),
    }
    for command in (["init-db"], ["load-fixtures"]):
        done = subprocess.run(
            [REGISTRY, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr + done.stdout
    server = subprocess.Popen(
        [REGISTRY, "run", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not come up")
        yield env, f"{base}/api/v1"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def test_the_walkthrough_has_no_hand_typed_ids_or_etags():
    block = walkthrough()
    assert not re.search(r'"c\d+-v\d+"', block)  # no literal ETag such as "c30-v1"
    assert not re.search(r'/carriers/\d|/organizations/\d|_id": \d', block)  # no literal id
    assert "If-Match: $ETAG" in block


def test_the_readme_walkthrough_runs_as_written(served_demo):
    env, api = served_demo
    script = "set -euo pipefail\n" + walkthrough()
    done = subprocess.run(
        ["bash", "-c", script],
        env={**env, "API": api},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    lines = done.stdout.splitlines()
    # The 2019 figures, then the alerts the demo opened with, then the stale ETag's 412.
    answers = [json.loads(line) for line in lines if line.startswith("{")]
    stats_2019 = next(answer for answer in answers if "groups" in answer)
    assert stats_2019["total"] == 14
    assert {g["level"]: g["count"] for g in stats_2019["groups"]} == {
        "provincial": 2,
        "municipal": 6,
        "county": 6,
    }
    assert '"kind":"report_' in done.stdout or '"kind": "report_' in done.stdout
    assert lines[-1] == "412"
