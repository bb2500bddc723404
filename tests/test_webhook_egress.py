"""Outbound webhook calls against real local receivers (issue 9, defects 7 and 10): an
attempt has a wall-clock deadline shorter than its claim lease, URLs are judged as the HTTP
client parses them, user-info is refused, and a connection not made reads the same whatever
the port's state. Receivers bind 127.0.0.1 on ports 18250-18299 and are stopped by the test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from urllib3.util import parse_url

from jobs.deliver import deliver_pending
from registry import audit, db, delivery, egress

HOOKS = "/api/v1/webhooks"
TRICKLE_SECONDS = 0.2


class TrickleReceiver:
    """A receiver on 127.0.0.1 that answers one byte every 0.2 s, for about a minute: in its
    status line and headers (``phase="headers"``) or in the body after prompt headers."""

    def __init__(self, port: int, phase: str):
        self.port = port
        self.phase = phase
        self.stop = threading.Event()
        self.requests = 0
        self.finished = False  # whether it ever sent its whole answer
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4)
        self.listener.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self.requests += 1
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        body = b"x" * 300
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            conn.recv(65536)
            if self.phase == "body":
                conn.sendall(head)
                slow = body
            else:
                slow = head + body
            for index in range(len(slow)):
                if self.stop.wait(TRICKLE_SECONDS):
                    return
                conn.sendall(slow[index : index + 1])
            self.finished = True

    def __enter__(self) -> TrickleReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def quick(app):
    """Short timeouts (1 s connect + 1 s read: a 2 s attempt), private targets allowed."""
    app.config.update(
        WEBHOOK_ALLOW_PRIVATE=True,
        WEBHOOK_CONNECT_TIMEOUT_SECONDS=1,
        WEBHOOK_TIMEOUT_SECONDS=1,
    )
    return app


def lease_ms(app) -> float:
    with app.app_context():
        return delivery.settings().lease.total_seconds() * 1000


@pytest.mark.parametrize("phase, port", [("headers", 18250), ("body", 18251)])
def test_a_trickling_receiver_is_cut_off_on_ping(quick, api, admin, phase, port):
    """Each byte arrives well within the read timeout, so only a total deadline ends it."""
    with TrickleReceiver(port, phase) as receiver:
        hook = api.post(HOOKS, json={"url": receiver.url}, token=admin).get_json()
        entry = api.post(f"{HOOKS}/{hook['id']}/ping", token=admin).get_json()
        finished = receiver.finished
    (attempt,) = entry["attempts"]
    assert entry["status"] == "failed"
    assert attempt["error"].startswith("Timeout: no complete answer within 2 s")
    assert not finished
    assert attempt["duration_ms"] < lease_ms(quick)


def test_a_trickling_receiver_is_cut_off_on_delivery(quick, api, admin):
    with TrickleReceiver(18252, "headers") as receiver:
        hook = api.post(HOOKS, json={"url": receiver.url}, token=admin).get_json()
        with quick.app_context(), db.database.connection_context(), db.database.atomic():
            audit.emit("carrier.created", {"carrier": {"id": 1}})
        with quick.app_context():
            deliver_pending()
        finished = receiver.finished
        served = receiver.requests
    (entry,) = api.get(f"{HOOKS}/{hook['id']}/deliveries", token=admin).get_json()
    (attempt,) = entry["attempts"]
    assert served == 1 and not finished
    assert attempt["error"].startswith("Timeout: no complete answer within 2 s")
    assert attempt["duration_ms"] < lease_ms(quick)


def test_the_attempt_deadline_is_shorter_than_the_claim_lease(app):
    with app.app_context():
        cfg = delivery.settings()
    assert cfg.attempt_seconds == cfg.connect_timeout + cfg.read_timeout
    assert cfg.attempt_seconds < cfg.lease.total_seconds()


# --- SSRF: the URL as the client sees it ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18253\\@1.1.1.1/",
        "http://127.0.0.1:18253\\@93.184.215.14/hook",
        "http://user:pass@93.184.215.14/hook",
        "http://user@93.184.215.14/hook",
        "https://93.184.215.14@127.0.0.1/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_user_info_in_a_webhook_url_is_refused(app, api, admin, db_state, url, allow_private):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = allow_private
    before = db_state()
    response = api.post(HOOKS, json={"url": url}, token=admin)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert "user-info" in response.get_json()["errors"]["url"][0]
    assert db_state() == before


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14:8080/a?b=c",
        "https://EXAMPLE.com./x",
        "http://[2606:4700::1111]:8443/hook",
        "https://hooks.example.com/%5C@10.0.0.1/",
    ],
)
def test_the_checked_host_is_the_host_the_client_connects_to(url):
    prepared = requests.Request("POST", url).prepare()
    connected = parse_url(prepared.url)
    host, port = egress.split_target(url)
    assert host == connected.host.strip("[]")
    assert port == (connected.port or (443 if connected.scheme == "https" else 80))


@contextlib.contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    try:
        yield listener
    finally:
        listener.close()


def connection_error(port: int) -> str:
    with egress.session(allow_private=False) as http:
        with pytest.raises(requests.ConnectionError) as caught:
            http.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=(1, 1))
    return str(caught.value).replace(str(port), "PORT")


def test_open_and_closed_internal_ports_fail_alike():
    """The guard refuses before any TCP handshake, with one message: a log reader cannot
    tell a listening internal port from a closed one."""
    with listening(18254):
        open_port = connection_error(18254)
    closed_port = connection_error(18255)
    assert open_port == closed_port
    assert egress.CONNECT_FAILED in open_port


def test_a_refused_connection_is_logged_with_the_one_message(quick, api, admin):
    """With private targets allowed, a closed port gives the same text as a guarded one."""
    hook = api.post(HOOKS, json={"url": "http://127.0.0.1:18256/hook"}, token=admin).get_json()
    entry = api.post(f"{HOOKS}/{hook['id']}/ping", token=admin).get_json()
    assert entry["attempts"][0]["error"] == egress.CONNECT_FAILED


def test_the_guard_connects_to_the_vetted_address_under_the_host_name(monkeypatch):
    """The socket goes to the address that was vetted, while the connection keeps the host
    name (for TLS SNI and certificate checks, and the Host header)."""
    from urllib3.exceptions import NewConnectionError
    from webhook_support import PUBLIC_ADDRESS, FakeDNS

    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS())
    opened = []

    def fake_connect(address, *args, **kwargs):
        opened.append(address)
        raise OSError("no network in tests")

    monkeypatch.setattr(egress, "create_connection", fake_connect)
    connection = egress._GuardedHTTPSConnection("hooks.example.com", 443)
    with pytest.raises(NewConnectionError, match=egress.CONNECT_FAILED):
        connection.connect()
    assert opened == [(PUBLIC_ADDRESS, 443)]
    assert connection.host == "hooks.example.com"
