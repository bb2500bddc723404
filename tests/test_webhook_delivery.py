"""Delivering events (SPEC §7): signatures, retries and back-off, ordering, redelivery, pings,
chat-robot formats, the address guard at delivery time, disabling, and at-least-once
delivery of a large backlog. The receiver is requests-mock at the ``requests`` boundary; the
delivery job runs with a controllable clock so back-offs can elapse."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from collections import Counter, defaultdict

import pytest
import requests
from webhook_support import FakeDNS, verify_dingtalk_url, verify_standard_webhook

from jobs.deliver import deliver_pending
from registry import audit, db, delivery, egress
from registry.db import utcnow
from registry.models import Carrier, Change, OutboxEvent, Webhook, WebhookDelivery

HOOKS = "/api/v1/webhooks"
RECEIVER = "https://receiver.example.com/hooks"
OTHER = "https://other.example.com/hooks"


class SimulatedCrash(BaseException):
    """The process dies (not an error the delivery code could catch and record)."""


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def hook(api, admin, dns):
    """``hook(**fields)`` subscribes (default: RECEIVER, every event) and returns the JSON."""

    def create(**fields) -> dict:
        response = api.post(HOOKS, json={"url": RECEIVER, **fields}, token=admin)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


@pytest.fixture
def run(app):
    """``run(at=None, **kwargs)`` runs the delivery job at a given (naive UTC) time."""

    def go(at: dt.datetime | None = None, **kwargs) -> dict:
        with app.app_context():
            return deliver_pending(now=at, **kwargs)

    return go


@pytest.fixture
def emit(app):
    """``emit(type, data, carrier_id=None)`` writes events straight to the outbox, as a domain
    write would."""

    def write(
        event_type: str, data: dict, count: int = 1, carrier_id: int | None = None
    ) -> list[str]:
        with app.app_context(), db.database.connection_context(), db.database.atomic():
            return [
                audit.emit(event_type, {**data, "n": n}, carrier_id=carrier_id).uid
                for n in range(count)
            ]

    return write


def in_db(app):
    class Context:
        def __enter__(self):
            self.app_ctx = app.app_context()
            self.app_ctx.__enter__()
            self.conn = db.database.connection_context()
            self.conn.__enter__()

        def __exit__(self, *exc):
            self.conn.__exit__(*exc)
            self.app_ctx.__exit__(*exc)

    return Context()


def deliveries(app, hook_id: int) -> list[WebhookDelivery]:
    with in_db(app):
        return list(
            WebhookDelivery.select()
            .where(WebhookDelivery.webhook == hook_id)
            .order_by(WebhookDelivery.id)
        )


def sent_ids(requests_mock, url: str = RECEIVER) -> list[str]:
    return [call.headers["webhook-id"] for call in requests_mock.request_history if call.url == url]


# --- what a receiver gets ---------------------------------------------------------------


def test_the_signature_verifies_with_an_independent_implementation(
    api, admin, hook, run, carrier_factory, requests_mock
):
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=200, text="ok")
    carrier = carrier_factory(name="示例数控车工技能大师工作室")
    counts = run()
    assert counts["dispatched"] == 1 and counts["succeeded"] == 1

    call = requests_mock.last_request
    assert verify_standard_webhook(subscription["secret"], call.headers, call.body)
    assert not verify_standard_webhook(subscription["secret"], call.headers, call.body + b" ")
    assert call.headers["Content-Type"] == "application/json"
    assert call.timeout == (5, 10)
    payload = json.loads(call.body)
    assert set(payload) == {"id", "type", "occurred_at", "data"}
    assert payload["id"] == call.headers["webhook-id"] and payload["id"].startswith("evt_")
    assert payload["type"] == "carrier.created"
    assert payload["occurred_at"].endswith("+08:00")
    assert payload["data"]["carrier"]["id"] == carrier["id"]
    # Chinese travels as UTF-8, not as \u escapes.
    assert "示例数控车工技能大师工作室".encode() in call.body
    timestamp = int(call.headers["webhook-timestamp"])
    assert abs(timestamp - dt.datetime.now(dt.UTC).timestamp()) < 60


def test_sign_matches_the_standard_webhooks_reference_vector():
    signature = delivery.sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_carrier_update_event_names_the_changed_fields(
    api, admin, hook, run, carrier_factory, requests_mock
):
    hook(events=["carrier.updated"])
    requests_mock.post(RECEIVER, status_code=204)
    carrier = carrier_factory()
    response = api.patch(
        f"/api/v1/carriers/{carrier['id']}",
        json={"description": "数控车工带徒传技"},
        token=admin,
        headers={"If-Match": f'"c{carrier["id"]}-v1"'},
    )
    assert response.status_code == 200
    run()
    (call,) = requests_mock.request_history
    payload = call.json()
    assert payload["type"] == "carrier.updated"
    assert "description" in payload["data"]["changed"]
    assert payload["data"]["carrier"]["description"] == "数控车工带徒传技"


# --- retries --------------------------------------------------------------------------------


def failing(kind: str) -> dict:
    if kind == "500":
        return {"status_code": 500, "text": "boom"}
    if kind == "timeout":
        return {"exc": requests.exceptions.ReadTimeout("read timed out")}
    return {"exc": requests.exceptions.ConnectionError("connection refused")}


@pytest.mark.parametrize("kind", ["500", "timeout", "connection"])
def test_failures_retry_with_exponential_back_off_and_jitter(
    app, hook, run, emit, requests_mock, kind
):
    subscription = hook()
    requests_mock.post(RECEIVER, [failing(kind)] * 4)
    emit("carrier.created", {"carrier": {"id": 1}})
    now = utcnow()
    base = app.config["WEBHOOK_RETRY_BASE_SECONDS"]
    for attempt in range(1, 5):
        assert run(now)["sent"] == 1
        (pending,) = deliveries(app, subscription["id"])
        assert pending.status == "pending" and pending.attempts == attempt
        delay = (pending.next_attempt_at - now).total_seconds()
        nominal = base * 2 ** (attempt - 1)
        assert 0.8 * nominal <= delay <= 1.2 * nominal
        # Not due yet: nothing is sent.
        assert run(now + dt.timedelta(seconds=delay - 1))["sent"] == 0
        now = pending.next_attempt_at
    assert requests_mock.call_count == 4
    first = requests_mock.request_history[0].headers["webhook-id"]
    assert all(call.headers["webhook-id"] == first for call in requests_mock.request_history)


def test_back_off_schedule_spans_about_a_day_by_default(app):
    base = app.config["WEBHOOK_RETRY_BASE_SECONDS"]
    gaps = app.config["WEBHOOK_MAX_ATTEMPTS"] - 1
    middle = sum(delivery.backoff_seconds(n, base, lambda: 0.5) for n in range(1, gaps + 1))
    assert 20 * 3600 <= middle <= 30 * 3600
    assert delivery.backoff_seconds(3, 10, lambda: 0.0) == pytest.approx(32)
    assert delivery.backoff_seconds(3, 10, lambda: 1.0) == pytest.approx(48)


def test_success_after_retries_is_logged_attempt_by_attempt(
    app, api, admin, hook, run, emit, requests_mock
):
    subscription = hook()
    requests_mock.post(
        RECEIVER,
        [
            {"status_code": 503, "text": "busy"},
            {"exc": requests.exceptions.ConnectTimeout("connect timed out")},
            {"status_code": 202, "text": "accepted"},
        ],
    )
    emit("alert.opened", {"alert": {"id": 3, "carrier_id": 1, "kind": "report_due"}})
    now = utcnow()
    for _ in range(3):
        run(now)
        now += dt.timedelta(days=1)
    log = api.get(f"{HOOKS}/{subscription['id']}/deliveries", token=admin).get_json()
    (entry,) = log
    assert entry["status"] == "succeeded" and entry["attempt_count"] == 3
    assert entry["event"]["type"] == "alert.opened"
    assert entry["next_attempt_at"] is None and entry["delivered_at"]
    attempts = entry["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [503, None, 202]
    assert [a["success"] for a in attempts] == [False, False, True]
    assert attempts[0]["error"] == "HTTP 503" and attempts[0]["response"] == "busy"
    # A connect timeout reads like any connection not made (issue 9, defect 10).
    assert attempts[1]["error"] == egress.CONNECT_FAILED
    assert attempts[2]["response"] == "accepted"
    assert all(isinstance(a["duration_ms"], int) for a in attempts)
    with in_db(app):
        assert Webhook.get_by_id(subscription["id"]).failing_since is None


def test_giving_up_marks_failed_and_lets_the_next_event_go(
    app, api, admin, hook, run, emit, requests_mock
):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 3
    subscription = hook()
    first, second = emit("carrier.created", {"carrier": {"id": 1}}, count=2)

    def answer(request, context):
        context.status_code = 500 if request.headers["webhook-id"] == first else 200
        return ""

    requests_mock.post(RECEIVER, text=answer)
    now = utcnow()
    for _ in range(5):
        run(now)
        now += dt.timedelta(days=1)
    assert sent_ids(requests_mock) == [first, first, first, second]
    failed, delivered = deliveries(app, subscription["id"])
    assert failed.status == "failed" and failed.attempts == 3
    assert delivered.status == "succeeded"
    log = api.get(f"{HOOKS}/{subscription['id']}/deliveries?success=false", token=admin)
    assert [d["status"] for d in log.get_json()] == ["failed"]
    assert (
        api.get(f"{HOOKS}/{subscription['id']}/deliveries?success=true", token=admin).headers[
            "X-Total-Count"
        ]
        == "1"
    )


def test_redirects_are_not_followed(app, hook, run, emit, requests_mock):
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=302, headers={"Location": "http://10.0.0.1/"})
    emit("carrier.created", {"carrier": {"id": 1}})
    run()
    assert requests_mock.call_count == 1
    (pending,) = deliveries(app, subscription["id"])
    assert pending.status == "pending" and pending.attempts == 1


def test_long_answers_are_truncated_in_the_log(app, api, admin, hook, run, emit, requests_mock):
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=500, text="错" * 5000)
    emit("carrier.created", {"carrier": {"id": 1}})
    run()
    log = api.get(f"{HOOKS}/{subscription['id']}/deliveries", token=admin).get_json()
    response = log[0]["attempts"][0]["response"]
    assert 0 < len(response) <= 1000 and set(response) <= {"错", "\ufffd"}


# --- order and at-least-once ----------------------------------------------------------------


def test_events_go_out_in_order_per_subscription(app, hook, run, emit, requests_mock):
    blocked = hook()
    healthy = hook(url=OTHER)
    uids = emit("carrier.updated", {"carrier": {"id": 1}}, count=5)
    calls = Counter()

    def flaky(request, context):
        calls[request.headers["webhook-id"]] += 1
        # The receiver is down for the first two tries of the first event.
        context.status_code = (
            500 if request.headers["webhook-id"] == uids[0] and calls[uids[0]] <= 2 else 200
        )
        return ""

    requests_mock.post(RECEIVER, text=flaky)
    requests_mock.post(OTHER, status_code=200)
    now = utcnow()
    run(now)
    # One subscription's failure does not hold up another.
    assert sent_ids(requests_mock, OTHER) == uids
    assert sent_ids(requests_mock, RECEIVER) == [uids[0]]
    run(now + dt.timedelta(minutes=2))
    assert sent_ids(requests_mock, RECEIVER) == [uids[0], uids[0]]
    run(now + dt.timedelta(hours=1))
    assert sent_ids(requests_mock, RECEIVER) == [uids[0], uids[0], *uids]
    assert [d.status for d in deliveries(app, blocked["id"])] == ["succeeded"] * 5
    assert [d.status for d in deliveries(app, healthy["id"])] == ["succeeded"] * 5


def test_1000_pending_events_with_a_receiver_failing_every_third_call(
    app, hook, run, emit, requests_mock
):
    first = hook()
    second = hook(url=OTHER, events=["carrier.*"])
    uids = emit("carrier.updated", {"carrier": {"id": 1, "name": "示例"}}, count=1000)
    received: dict[str, list[str]] = defaultdict(list)
    calls = Counter()

    def every_third_fails(request, context):
        calls["all"] += 1
        if calls["all"] % 3 == 0:
            context.status_code = 500
            return "try again"
        received[request.url].append(request.headers["webhook-id"])
        context.status_code = 200
        return "ok"

    requests_mock.post(RECEIVER, text=every_third_fails)
    requests_mock.post(OTHER, text=every_third_fails)
    now = utcnow()
    totals = Counter()
    runs = 0
    while runs < 3000:
        counts = run(now)
        runs += 1
        totals.update(counts)
        if not counts["sent"]:
            break
        # A failed head holds its queue until its back-off has elapsed: let it elapse.
        now += dt.timedelta(hours=1)
    assert totals["dispatched"] == 1000 and totals["queued"] == 2000
    assert totals["failed"] == 0 and totals["succeeded"] == 2000
    # Exactly once per subscription, by webhook-id, and in order of occurrence.
    assert received[RECEIVER] == uids
    assert received[OTHER] == uids
    assert calls["all"] == 2000 + totals["retrying"]
    for subscription in (first, second):
        assert {d.status for d in deliveries(app, subscription["id"])} == {"succeeded"}


def test_a_crash_between_sending_and_recording_resends_the_same_id(
    app, hook, run, emit, requests_mock
):
    subscription = hook()
    (uid,) = emit("carrier.created", {"carrier": {"id": 1}})
    received = []

    def crash_once(request, context):
        received.append(request.headers["webhook-id"])
        if len(received) == 1:
            raise SimulatedCrash
        context.status_code = 200
        return ""

    requests_mock.post(RECEIVER, text=crash_once)
    now = utcnow()
    with pytest.raises(SimulatedCrash):
        run(now)
    (claimed,) = deliveries(app, subscription["id"])
    assert claimed.status == "pending" and claimed.claim_token
    # The dead run's claim holds until its lease lapses; then the event goes again.
    assert run(now + dt.timedelta(seconds=5))["sent"] == 0
    assert run(now + dt.timedelta(minutes=5))["succeeded"] == 1
    assert received == [uid, uid]
    (done,) = deliveries(app, subscription["id"])
    assert done.status == "succeeded" and done.claim_token is None


def test_a_delivery_claimed_by_another_run_is_not_sent(app, hook, run, emit, requests_mock):
    subscription = hook()
    emit("carrier.created", {"carrier": {"id": 1}}, count=2)
    requests_mock.post(RECEIVER, status_code=200)
    now = utcnow()
    run(now, limit=0)  # fan out only
    head, _ = deliveries(app, subscription["id"])
    with in_db(app):
        assert delivery._claim(head.id, now, delivery.settings()) is not None
    counts = run(now)
    # The head is in another run's hands; the one behind it must wait too.
    assert counts["sent"] == 0 and requests_mock.call_count == 0


def test_concurrent_runs_send_each_event_once(app, hook, emit, requests_mock):
    hook()
    hook(url=OTHER)
    uids = emit("milestone.recorded", {"milestone": {"id": 1}}, count=60)
    received = defaultdict(list)
    lock = threading.Lock()

    def receive(request, context):
        with lock:
            received[request.url].append(request.headers["webhook-id"])
        context.status_code = 200
        return ""

    requests_mock.post(RECEIVER, text=receive)
    requests_mock.post(OTHER, text=receive)
    errors = []

    def worker():
        try:
            with app.app_context():
                deliver_pending()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with app.app_context():
        deliver_pending()  # whatever a lost race left for later
    assert received[RECEIVER] == uids
    assert received[OTHER] == uids


def test_no_event_from_a_rolled_back_write(
    app, api, admin, hook, run, carrier_factory, requests_mock
):
    hook()
    requests_mock.post(RECEIVER, status_code=200)
    carrier = carrier_factory()
    run()
    assert requests_mock.call_count == 1
    with in_db(app):
        events = OutboxEvent.select().count()
    # A refused write (422) and a write that fails half-way both leave no event.
    response = api.patch(
        f"/api/v1/carriers/{carrier['id']}",
        json={"host_organization_id": 99999},
        token=admin,
        headers={"If-Match": f'"c{carrier["id"]}-v1"'},
    )
    assert response.status_code == 422

    from registry import carriers

    with in_db(app), app.test_request_context():
        row = carriers.load(carrier["id"])
        with pytest.raises(RuntimeError), db.database.atomic():
            carriers.update_carrier(row.id, {"description": "改"})
            raise RuntimeError("the rest of the write failed")
        assert OutboxEvent.select().count() == events
        assert Carrier.get_by_id(carrier["id"]).description is None
    assert run()["dispatched"] == 0
    assert requests_mock.call_count == 1


# --- redelivery and ping ------------------------------------------------------------------


def test_redelivery_queues_a_new_round_with_the_same_id(
    app, api, admin, hook, run, emit, requests_mock
):
    subscription = hook()
    (uid,) = emit("report.submitted", {"report": {"carrier_id": 1, "year": 2024}})
    requests_mock.post(RECEIVER, status_code=200)
    run()
    (done,) = deliveries(app, subscription["id"])
    path = f"{HOOKS}/{subscription['id']}/deliveries/{done.id}"

    response = api.post(f"{path}/redeliver", token=admin)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    assert api.post(f"{path}/redeliver", token=admin).status_code == 409
    assert run()["succeeded"] == 1
    assert sent_ids(requests_mock) == [uid, uid]
    entry = api.get(path, token=admin).get_json()
    assert entry["status"] == "succeeded" and [a["number"] for a in entry["attempts"]] == [1, 2]
    with in_db(app):
        change = Change.get(Change.object_type == "webhook_delivery")
        assert change.action == "update" and change.before["status"] == "succeeded"
        assert change.after["status"] == "pending"


def test_redelivery_of_an_old_failure_does_not_hold_up_the_queue(
    app, api, admin, hook, run, emit, requests_mock
):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 1
    subscription = hook()
    old, new = emit("carrier.updated", {"carrier": {"id": 1}}, count=2)
    requests_mock.post(RECEIVER, [{"status_code": 500}, {"status_code": 200}, {"status_code": 500}])
    now = utcnow()
    run(now)
    failed, delivered = deliveries(app, subscription["id"])
    assert (failed.status, delivered.status) == ("failed", "succeeded")
    api.post(f"{HOOKS}/{subscription['id']}/deliveries/{failed.id}/redeliver", token=admin)
    (newer,) = emit("carrier.updated", {"carrier": {"id": 1}})
    requests_mock.post(RECEIVER, status_code=200)
    run(now + dt.timedelta(minutes=1))
    assert sent_ids(requests_mock)[-2:] == [old, newer]
    assert new in sent_ids(requests_mock)


def test_ping_sends_a_signed_test_event_now(app, api, admin, hook, requests_mock):
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=200, text="pong")
    response = api.post(f"{HOOKS}/{subscription['id']}/ping", token=admin)
    assert response.status_code == 200
    entry = response.get_json()
    assert entry["status"] == "succeeded" and entry["event"]["type"] == "webhook.ping"
    assert entry["attempts"][0]["status_code"] == 200
    assert entry["attempts"][0]["response"] == "pong"
    call = requests_mock.last_request
    assert verify_standard_webhook(subscription["secret"], call.headers, call.body)
    assert call.json()["data"]["webhook"]["id"] == subscription["id"]


def test_a_failed_ping_is_not_retried_and_does_not_count_against_the_subscription(
    app, api, admin, hook, run, requests_mock
):
    subscription = hook()
    requests_mock.post(RECEIVER, exc=requests.exceptions.ConnectionError("refused"))
    entry = api.post(f"{HOOKS}/{subscription['id']}/ping", token=admin).get_json()
    assert entry["status"] == "failed"
    assert entry["attempts"][0]["error"] == egress.CONNECT_FAILED
    assert run(utcnow() + dt.timedelta(days=2))["sent"] == 0
    assert api.get(f"{HOOKS}/{subscription['id']}", token=admin).get_json()["failing_since"] is None


def test_ping_reaches_an_inactive_subscription(api, admin, hook, requests_mock):
    subscription = hook(active=False)
    requests_mock.post(RECEIVER, status_code=204)
    entry = api.post(f"{HOOKS}/{subscription['id']}/ping", token=admin).get_json()
    assert entry["status"] == "succeeded"


# --- the address guard at delivery time ------------------------------------------------------


def test_a_name_that_now_resolves_to_a_private_address_is_not_called(
    app, api, admin, hook, run, emit, dns, requests_mock
):
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=200)
    dns.records["receiver.example.com"] = "10.0.0.7"
    emit("carrier.created", {"carrier": {"id": 1}})
    run()
    assert requests_mock.call_count == 0
    (entry,) = api.get(f"{HOOKS}/{subscription['id']}/deliveries", token=admin).get_json()
    assert entry["status"] == "pending"
    assert "10.0.0.7" in entry["attempts"][0]["error"]
    assert entry["attempts"][0]["error"].startswith("Refused")


def test_the_connection_itself_never_connects_to_a_non_public_peer():
    """The last line of defence: even when a name passed the check and then resolved to an
    internal address (DNS rebinding), the connection resolves and vets the address itself and
    never opens a socket to it. A real listener on loopback, no mock."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0)
    port = listener.getsockname()[1]
    try:
        with egress.session(allow_private=False) as http:
            with pytest.raises(requests.ConnectionError, match=egress.CONNECT_FAILED):
                http.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=(2, 2))
        with pytest.raises(BlockingIOError):
            listener.accept()  # no TCP handshake ever reached the internal port
    finally:
        listener.close()


def test_is_public_address():
    assert egress.is_public_address("93.184.215.14")
    assert egress.is_public_address("2606:4700::1111")
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.251",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "not an address",
    ):
        assert not egress.is_public_address(address), address


# --- disabling a failing subscription -----------------------------------------------------------


def test_a_subscription_failing_too_long_is_disabled_and_its_owner_alerted(
    app, api, admin, hook, run, emit, requests_mock, caplog
):
    app.config["WEBHOOK_DISABLE_AFTER_HOURS"] = 2
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 50
    broken = hook(description="园区系统")
    watcher = hook(url=OTHER, events=["webhook.disabled"])
    requests_mock.post(RECEIVER, status_code=500)
    requests_mock.post(OTHER, status_code=200)
    emit("carrier.created", {"carrier": {"id": 1}})
    now = utcnow()
    caplog.set_level(logging.WARNING, logger="registry.webhooks")
    disabled = 0
    for _ in range(10):
        disabled += run(now)["disabled"]
        now += dt.timedelta(minutes=40)
    assert disabled == 1
    state = api.get(f"{HOOKS}/{broken['id']}", token=admin).get_json()
    assert state["active"] is False and state["disabled_at"]
    assert "bureau admin" in state["disabled_reason"]
    attempts_when_disabled = sum(1 for c in requests_mock.request_history if c.url == RECEIVER)
    assert 4 <= attempts_when_disabled <= 6
    # The owner is told: another subscription got the event, the audit trail and log say so.
    (note,) = [c for c in requests_mock.request_history if c.url == OTHER]
    assert note.json()["type"] == "webhook.disabled"
    assert note.json()["data"]["webhook"]["id"] == broken["id"]
    assert watcher["id"] != broken["id"]
    with in_db(app):
        change = Change.get((Change.object_type == "webhook") & (Change.action == "update"))
        assert change.actor.startswith("system") and change.after["active"] is False
    assert any("disabled" in record.getMessage() for record in caplog.records)

    # Re-activating clears the record; the pending event then goes out.
    requests_mock.post(RECEIVER, status_code=200)
    etag = api.get(f"{HOOKS}/{broken['id']}", token=admin).headers["ETag"]
    # Created (v1), failing (v2), disabled (v3): each changed what GET shows.
    assert etag == f'"w{broken["id"]}-v3"'
    response = api.patch(
        f"{HOOKS}/{broken['id']}", json={"active": True}, token=admin, headers={"If-Match": etag}
    )
    assert response.status_code == 200
    assert response.get_json()["disabled_at"] is None
    assert response.get_json()["failing_since"] is None
    assert run(now)["succeeded"] == 1


def test_events_while_inactive_are_not_queued(app, api, admin, hook, run, emit, requests_mock):
    subscription = hook(active=False)
    requests_mock.post(RECEIVER, status_code=200)
    emit("carrier.created", {"carrier": {"id": 1}})
    assert run()["queued"] == 0
    assert deliveries(app, subscription["id"]) == []


# --- which events reach which subscription -----------------------------------------------------


def test_event_type_subscriptions(app, hook, run, emit, requests_mock):
    created_only = hook(events=["carrier.created"])
    alerts = hook(url=OTHER, events=["alert.*"])
    requests_mock.post(RECEIVER, status_code=200)
    requests_mock.post(OTHER, status_code=200)
    emit("carrier.created", {"carrier": {"id": 1}})
    emit("carrier.updated", {"carrier": {"id": 1}})
    emit("alert.opened", {"alert": {"id": 1}})
    emit("alert.resolved", {"alert": {"id": 1}})
    emit("something.new", {})
    run()
    types = {
        url: [c.json()["type"] for c in requests_mock.request_history if c.url == url]
        for url in (RECEIVER, OTHER)
    }
    assert types[RECEIVER] == ["carrier.created"]
    assert types[OTHER] == ["alert.opened", "alert.resolved"]
    assert len(deliveries(app, created_only["id"])) == 1
    assert len(deliveries(app, alerts["id"])) == 2


def test_every_event_type_reaches_an_unfiltered_subscription(app, hook, run, emit, requests_mock):
    hook()
    requests_mock.post(RECEIVER, status_code=200)
    emit("registration.reviewed", {"carrier": {"id": 1, "name": "基地", "status": "applying"}})
    emit("brand.new.kind", {"anything": [1, 2]})
    run()
    assert [c.json()["type"] for c in requests_mock.request_history] == [
        "registration.reviewed",
        "brand.new.kind",
    ]


def test_filters_by_carrier_type_and_organisation(
    app, api, admin, hook, run, emit, org_factory, carrier_factory, requests_mock
):
    park_operator = org_factory(kind="park_operator")
    other_org = org_factory()
    studios = hook(filter={"type": ["skill_master_studio"]})
    park = hook(url=OTHER, filter={"organization_id": [park_operator["id"]]})
    requests_mock.post(RECEIVER, status_code=200)
    requests_mock.post(OTHER, status_code=200)
    studio = carrier_factory(type="skill_master_studio", host_organization_id=other_org["id"])
    partnered = carrier_factory(
        type="maker_space",
        host_organization_id=other_org["id"],
        partners=[{"organization_id": park_operator["id"], "role": "operator"}],
    )
    # Events without the carrier's snapshot are matched through the carrier their
    # carrier_id column names.
    emit("alert.opened", {"alert": {"id": 7, "kind": "report_due"}}, carrier_id=partnered["id"])
    emit("alert.opened", {"alert": {"id": 8, "kind": "report_due"}}, carrier_id=studio["id"])
    emit("alert.opened", {"alert": {"id": 9, "kind": "report_due"}}, carrier_id=987654)
    # An event about no carrier reaches no filtered subscription.
    emit("digest.weekly", {"summary": "本周新增预警 3 条"})
    run()

    def seen(url):
        out = []
        for call in requests_mock.request_history:
            if call.url == url:
                data = call.json()["data"]
                out.append((call.json()["type"], (data.get("carrier") or data["alert"]).get("id")))
        return out

    assert seen(RECEIVER) == [("carrier.created", studio["id"]), ("alert.opened", 8)]
    assert seen(OTHER) == [("carrier.created", partnered["id"]), ("alert.opened", 7)]
    assert studios["id"] != park["id"]


# --- chat robots ---------------------------------------------------------------------------------

DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1"


def test_dingtalk_robot_gets_a_signed_url_and_a_chinese_text(
    app, hook, run, carrier_factory, requests_mock
):
    hook(url=DINGTALK, format="dingtalk", robot_secret="SECdemo", events=["carrier.created"])
    requests_mock.post("https://oapi.dingtalk.com/robot/send", json={"errcode": 0, "errmsg": "ok"})
    carrier_factory(name="示例技能大师工作室", type="skill_master_studio", level="county")
    assert run()["succeeded"] == 1
    call = requests_mock.last_request
    assert call.url.startswith(DINGTALK + "&timestamp=")
    assert verify_dingtalk_url(call.url, "SECdemo")
    assert call.qs["access_token"] == ["abc123"]
    body = call.json()
    assert body["msgtype"] == "text"
    content = body["text"]["content"]
    assert content.startswith("【人才载体】") and "示例技能大师工作室" in content
    assert "技能大师工作室" in content and "慈溪市级" in content


def test_wecom_robot_error_codes_count_as_failures(app, api, admin, hook, run, emit, requests_mock):
    subscription = hook(url=WECOM, format="wecom")
    requests_mock.post(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
        [
            {"json": {"errcode": 45009, "errmsg": "api freq out of limit"}},
            {"json": {"errcode": 0, "errmsg": "ok"}},
        ],
    )
    emit(
        "alert.opened",
        {
            "alert": {"kind": "evaluation_overdue", "due_on": "2025-01-01", "days_left": -3},
            "carrier": {"id": 1, "name": "示例园区", "type": "innovation_park"},
        },
    )
    now = utcnow()
    run(now)
    run(now + dt.timedelta(hours=1))
    log = api.get(f"{HOOKS}/{subscription['id']}/deliveries", token=admin).get_json()
    first, second = log[0]["attempts"]
    assert first["success"] is False and "45009" in first["error"]
    assert second["success"] is True
    content = requests_mock.last_request.json()["text"]["content"]
    assert content == "【人才载体】预警：示例园区，评估逾期，截止 2025-01-01（已逾期 3 天）。"


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        (
            "carrier.updated",
            {"carrier": {"name": "甲"}, "changed": ["updated_at", "town"]},
            "所在镇街",
        ),
        (
            "milestone.recorded",
            {
                "milestone": {
                    "kind": "term_evaluation",
                    "occurred_on": "2025-02-01",
                    "result": "pass",
                },
                "carrier": {"name": "乙"},
            },
            "期满评估",
        ),
        (
            "alert.resolved",
            {"alert": {"kind": "report_due", "due_on": "2025-03-31", "carrier_id": 4}},
            "预警解除",
        ),
        ("report.submitted", {"report": {"year": 2024, "carrier_id": 4}}, "2024 年度报告"),
        ("registration.submitted", {"carrier": {"name": "丙"}}, "待审核"),
        ("registration.reviewed", {"carrier": {"name": "丙", "status": "rejected"}}, "未通过"),
        ("digest.weekly", {"summary": "本周 3 条预警"}, "本周 3 条预警"),
        ("carrier.created", {"carrier": "not an object"}, "新增载体（carrier.created）"),
        ("milestone.recorded", {}, "记录里程碑"),
        ("unknown.kind", {"carrier": {"name": "丁"}}, "事件（unknown.kind）：丁"),
    ],
)
def test_chat_texts_for_every_event_never_fail(event_type, data, expected):
    from registry import chat

    text = chat.message_text(event_type, data, {"county": "慈溪市级"})
    assert text.startswith("【人才载体】") and expected in text
    assert len(chat.message_text("x", {"carrier": {"name": "长" * 5000}}, {}).encode()) <= 2000


# --- the command ------------------------------------------------------------------------------


def test_registry_deliver_command_prints_the_counts(app, hook, emit, requests_mock):
    hook()
    requests_mock.post(RECEIVER, status_code=200)
    emit("carrier.created", {"carrier": {"id": 1}}, count=3)
    result = app.test_cli_runner().invoke(args=["deliver"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "dispatched 3, queued 3, sent 3, succeeded 3, retrying 0, failed 0, disabled 0"
    )


def test_the_readme_receiver_example_verifies_a_real_delivery(hook, run, emit, requests_mock):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = readme.split("### Receiving webhooks")[1]
    code = section.split("```python\n")[1].split("```")[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own example
    subscription = hook()
    requests_mock.post(RECEIVER, status_code=200)
    emit("carrier.created", {"carrier": {"id": 1, "name": "示例"}})
    run()
    call = requests_mock.last_request
    assert namespace["verify"](subscription["secret"], call.headers, call.body)
    assert not namespace["verify"](subscription["secret"], call.headers, call.body[:-1])
    stale = {**call.headers, "webhook-timestamp": str(int(call.headers["webhook-timestamp"]) - 600)}
    assert not namespace["verify"](subscription["secret"], stale, call.body)


def test_a_subscription_deleted_while_sending_ends_quietly(app, hook, run, emit, requests_mock):
    subscription = hook()
    emit("carrier.created", {"carrier": {"id": 1}}, count=2)

    def delete_meanwhile(request, context):
        with db.database.atomic():
            Webhook.get_by_id(subscription["id"]).delete_instance(recursive=True)
        context.status_code = 200
        return ""

    requests_mock.post(RECEIVER, text=delete_meanwhile)
    counts = run()
    assert counts["sent"] == 1
    assert deliveries(app, subscription["id"]) == []


def test_an_event_naming_only_a_carrier_id_is_filtered_through_the_carrier(
    app, hook, run, emit, carrier_factory, requests_mock
):
    studio = carrier_factory(type="skill_master_studio")
    park = carrier_factory(type="innovation_park")
    hook(filter={"type": ["innovation_park"]}, events=["report.*"])
    requests_mock.post(RECEIVER, status_code=200)
    emit(
        "report.submitted", {"carrier": {"id": studio["id"]}, "report": {}}, carrier_id=studio["id"]
    )
    emit("report.submitted", {"carrier": {"id": park["id"]}, "report": {}}, carrier_id=park["id"])
    # The payload is not read for the carrier: without the column, no carrier.
    emit("report.submitted", {"carrier": {"id": park["id"]}, "report": {"year": 2023}})
    run()
    assert [c.json()["data"]["carrier"]["id"] for c in requests_mock.request_history] == [
        park["id"]
    ]


def test_a_long_backlog_does_not_starve_other_subscriptions(app, hook, run, emit, requests_mock):
    hook(events=["carrier.updated"])
    hook(url=OTHER, events=["alert.opened"])
    emit("carrier.updated", {"carrier": {"id": 1}}, count=150)
    emit("alert.opened", {"alert": {"id": 1}})
    requests_mock.post(RECEIVER, status_code=200)
    requests_mock.post(OTHER, status_code=200)
    assert run()["succeeded"] == 151
    urls = [call.url for call in requests_mock.request_history]
    assert urls.index(OTHER) <= 100
