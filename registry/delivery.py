"""Sending the outbox to webhook subscriptions (SPEC §7): fan-out, claims, Standard Webhooks
signatures, retries with back-off, the delivery log, pings and redeliveries.

One run of :func:`deliver_pending`:

1. **Fan-out.** Every outbox event not yet dispatched becomes one delivery per active
   subscription that wants it (and existed when it occurred); the event is then marked
   dispatched. Fan-out runs one process at a time (``FOR UPDATE`` on PostgreSQL, ``BEGIN
   IMMEDIATE`` on SQLite), so delivery ids follow the order of occurrence.
2. **Out-of-band deliveries** (manual redeliveries, a ping whose immediate send was taken
   over) that are due are sent, in no particular order.
3. **Queues.** Each active subscription's pending deliveries go out strictly in order: a
   failure stops its queue until the back-off has elapsed (head-of-line blocking, so a
   receiver never sees a later event before an earlier one), and when a delivery runs out
   of attempts it is marked ``failed`` and the next one moves up.

Claims: the HTTP call happens outside any transaction, so a delivery is claimed first with
a conditional update (``claim_token`` and a lease ``claimed_until``) that only one run can
win; out-of-band batches are picked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL. A run
that dies after sending but before recording leaves a claim that lapses, and the delivery is
sent again with the same ``webhook-id``: at-least-once, receivers drop duplicates by id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import current_app

from registry import audit, chat, clock, egress, jsontext, webhooks
from registry.db import claimable, locked, utcnow, write_transaction
from registry.errors import DomainError
from registry.models import OutboxEvent, Webhook, WebhookAttempt, WebhookDelivery
from registry.vocabulary import DELIVERY_STATUSES, level_labels

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = DELIVERY_STATUSES
PING = "webhook.ping"
#: Bytes of a receiver's answer that are read (the rest is never downloaded) and characters
#: of it kept in the log.
READ_LIMIT = 4096
RESPONSE_LIMIT = 1000
ERROR_LIMIT = 500
JITTER = 0.2
QUEUE_BATCH = 100
DISPATCH_BATCH = 200
INSERT_CHUNK = 100
USER_AGENT = "CarrierRegistry-Webhooks/1.0"


@dataclass(frozen=True)
class Settings:
    """The delivery settings of ``registry/config.py``."""

    allow_private: bool
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_base: float
    disable_after_hours: int
    timezone: str
    levels: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
            connect_timeout=config["WEBHOOK_CONNECT_TIMEOUT_SECONDS"],
            read_timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
            max_attempts=max(1, config["WEBHOOK_MAX_ATTEMPTS"]),
            retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"],
            disable_after_hours=config["WEBHOOK_DISABLE_AFTER_HOURS"],
            timezone=config["TIMEZONE"],
            levels=level_labels(config),
        )

    @property
    def disable_after(self) -> dt.timedelta:
        return dt.timedelta(hours=self.disable_after_hours)

    @property
    def attempt_seconds(self) -> float:
        """The wall-clock limit of one attempt, from connecting to the last byte read: the
        connect timeout plus the read timeout. Each timeout alone bounds one socket
        operation; a receiver trickling its answer is cut off here."""
        return self.connect_timeout + self.read_timeout

    @property
    def lease(self) -> dt.timedelta:
        """How long a claim holds: twice an attempt's limit and half a minute more, so an
        attempt always ends (:attr:`attempt_seconds`) while its claim still holds."""
        return dt.timedelta(seconds=2 * self.attempt_seconds + 30)


def settings() -> Settings:
    return Settings.from_config(current_app.config)


# --- what is sent -----------------------------------------------------------------------------


def backoff_seconds(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Delay after failed attempt number ``attempt`` (1-based): ``base · 2^(attempt-1)``,
    ±20% jitter so that many failing deliveries do not retry in lock-step.

    With the defaults (45 s, 12 attempts) the eleven delays add up to about 25.6 hours.
    """
    return base * 2 ** (attempt - 1) * (1 - JITTER + 2 * JITTER * rand())


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over
    ``"{id}.{timestamp}.{body}"`` keyed with the secret's decoded bytes."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhooks.secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def local_time(value: dt.datetime, zone: str) -> str:
    """A stored naive-UTC timestamp in the zone called ``zone``, with its offset."""
    return clock.local_isoformat(value, zone)


def event_payload(event: OutboxEvent, zone: str) -> dict[str, Any]:
    """What a ``standard`` subscription receives: ``id``, ``type``, ``occurred_at``, ``data``."""
    return {
        "id": event.uid,
        "type": event.type,
        "occurred_at": local_time(event.occurred_at, zone),
        "data": event.data,
    }


def build_request(
    webhook: Webhook, event: OutboxEvent, now: dt.datetime, cfg: Settings
) -> tuple[str, bytes, dict[str, str]]:
    """URL, body and headers of one call. Every format carries the Standard Webhooks headers;
    chat-robot formats post a text message instead of the event JSON."""
    timestamp = int(now.replace(tzinfo=dt.UTC).timestamp())
    if webhook.format == "standard":
        document = event_payload(event, cfg.timezone)
    else:
        document = chat.message_body(event.type, event.data, cfg.levels)
    # Valid JSON even for values stored before bodies were parsed strictly (NaN, surrogates).
    body = jsontext.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event.uid,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(webhook.secret, event.uid, timestamp, body),
    }
    url = webhook.url
    if webhook.format == "dingtalk" and webhook.robot_secret:
        milliseconds = int(now.replace(tzinfo=dt.UTC).timestamp() * 1000)
        url = chat.dingtalk_signed_url(url, webhook.robot_secret, milliseconds)
    return url, body, headers


@dataclass
class Outcome:
    """What one HTTP attempt gave."""

    success: bool
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None
    response: str | None = None


def post(
    http: requests.Session, webhook: Webhook, event: OutboxEvent, now: dt.datetime, cfg: Settings
) -> Outcome:
    """POST one event. 2xx is success (for chat robots also ``errcode`` 0); any other code,
    a timeout, a connection error or a refused address is a failure. Redirects are not
    followed (a redirect could point at an internal host)."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    with egress.Deadline(cfg.attempt_seconds) as deadline:
        try:
            # Checked on every attempt: the name may resolve elsewhere than at creation.
            egress.check_target(webhook.url, cfg.allow_private)
            url, body, headers = build_request(webhook, event, now, cfg)
            response = http.post(
                url,
                data=body,
                headers=headers,
                timeout=(cfg.connect_timeout, cfg.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except egress.TargetRefused as error:
            return Outcome(False, None, elapsed(), f"Refused: {error}"[:ERROR_LIMIT])
        except Exception as error:  # noqa: BLE001 - any failure to send is a failed attempt
            return Outcome(False, None, elapsed(), _failure(error, deadline, cfg))
        try:
            raw = response.raw.read(READ_LIMIT, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - the status decides; an unreadable answer is logged empty
            raw = b""
        finally:
            response.close()
        if deadline.expired:
            return Outcome(False, response.status_code, elapsed(), _failure(None, deadline, cfg))
    text = raw.decode("utf-8", errors="replace")
    outcome = Outcome(
        200 <= response.status_code < 300,
        response.status_code,
        elapsed(),
        None,
        text[:RESPONSE_LIMIT],
    )
    if not outcome.success:
        outcome.error = f"HTTP {response.status_code}"
    elif webhook.format != "standard":
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        problem = chat.robot_error(answer)
        if problem:
            outcome.success = False
            outcome.error = problem[:ERROR_LIMIT]
    return outcome


def _failure(error: Exception | None, deadline: egress.Deadline, cfg: Settings) -> str:
    """The logged text of a failed call: the same for every connection not made, so that the
    log does not tell an open port from a closed one."""
    if deadline.expired:
        return (
            f"Timeout: no complete answer within {cfg.attempt_seconds:g} s "
            "(connect and read timeouts together)."
        )
    if isinstance(error, requests.ConnectionError) and not isinstance(error, requests.ReadTimeout):
        return egress.CONNECT_FAILED
    if isinstance(error, requests.Timeout):
        return f"Timeout: no answer within {cfg.read_timeout:g} s."
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


# --- claims and records -----------------------------------------------------------------------


def _claim(delivery_id: int, now: dt.datetime, cfg: Settings) -> str | None:
    """Claim a due delivery for this run; None when another run holds it or it is not due.

    One conditional UPDATE, so that of two runs only one can win, on either database.
    """
    token = uuid.uuid4().hex
    claimed = (
        WebhookDelivery.update(claim_token=token, claimed_until=now + cfg.lease)
        .where(
            (WebhookDelivery.id == delivery_id)
            & (WebhookDelivery.status == PENDING)
            & (WebhookDelivery.next_attempt_at <= now)
            & (WebhookDelivery.claimed_until.is_null() | (WebhookDelivery.claimed_until < now))
        )
        .execute()
    )
    return token if claimed else None


def _attempt(
    http: requests.Session,
    delivery: WebhookDelivery,
    webhook: Webhook,
    event: OutboxEvent,
    token: str,
    now: dt.datetime,
    cfg: Settings,
    counts: Counter,
) -> bool:
    """Send a claimed delivery and record the attempt; return whether it succeeded."""
    outcome = post(http, webhook, event, now, cfg)
    counts["sent"] += 1
    round_attempts = delivery.attempts + 1
    total = delivery.attempt_count + 1
    changes: dict[str, Any] = {
        "attempts": round_attempts,
        "attempt_count": total,
        "last_attempt_at": now,
        "claim_token": None,
        "claimed_until": None,
        "updated_at": utcnow(),
    }
    if outcome.success:
        changes.update(status=SUCCEEDED, delivered_at=now)
        counts["succeeded"] += 1
    elif round_attempts >= (delivery.max_attempts or cfg.max_attempts):
        changes.update(status=FAILED)
        counts["failed"] += 1
        log.info("Webhook %s gave up on event %s after %s attempts.", webhook.id, event.uid, total)
    else:
        delay = backoff_seconds(round_attempts, cfg.retry_base)
        changes.update(next_attempt_at=now + dt.timedelta(seconds=delay))
        counts["retrying"] += 1
    disable = False
    with write_transaction():
        # A run whose claim lapsed (and was taken over) logs its attempt but leaves the
        # delivery's state to the run that holds it now.
        updated = (
            WebhookDelivery.update(**changes)
            .where((WebhookDelivery.id == delivery.id) & (WebhookDelivery.claim_token == token))
            .execute()
        )
        if (
            not updated
            and not WebhookDelivery.select().where(WebhookDelivery.id == delivery.id).exists()
        ):
            return outcome.success  # the subscription was deleted meanwhile
        WebhookAttempt.create(
            delivery=delivery.id,
            number=total,
            at=now,
            success=outcome.success,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
            response_body=outcome.response,
        )
        if event.type != PING:  # a ping tests the receiver; it does not count towards health
            disable = _note_health(webhook, outcome.success, now, cfg)
    if disable and webhooks.disable_for_failures(webhook.id, now, cfg.disable_after_hours):
        webhook.active = False
        counts["disabled"] += 1
    return outcome.success


def _note_health(webhook: Webhook, success: bool, now: dt.datetime, cfg: Settings) -> bool:
    """Track the subscription's failing streak; return whether it is due to be disabled."""
    # Only the start and the end of a streak are written; they change what GET shows, so
    # they bump the version (the ETag) too.
    if success:
        if webhook.failing_since is not None:
            Webhook.update(failing_since=None, version=Webhook.version + 1).where(
                (Webhook.id == webhook.id) & Webhook.failing_since.is_null(False)
            ).execute()
            webhook.failing_since = None
        return False
    if webhook.failing_since is None:
        Webhook.update(failing_since=now, version=Webhook.version + 1).where(
            (Webhook.id == webhook.id) & Webhook.failing_since.is_null()
        ).execute()
        webhook.failing_since = now
        return False
    return now - webhook.failing_since >= cfg.disable_after


# --- the run ------------------------------------------------------------------------------------


def _chunks(rows: list, size: int) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def dispatch(now: dt.datetime, counts: Counter) -> None:
    """Fan every undispatched outbox event out to the subscriptions that want it."""
    while True:
        with write_transaction():
            events = list(
                locked(
                    OutboxEvent.select()
                    .where(OutboxEvent.dispatched_at.is_null())
                    .order_by(OutboxEvent.occurred_at, OutboxEvent.id)
                    .limit(DISPATCH_BATCH)
                )
            )
            if not events:
                return
            hooks = list(
                Webhook.select().where(Webhook.active == True).order_by(Webhook.id)  # noqa: E712
            )
            if any(hook.filter for hook in hooks):
                facts = webhooks.carrier_facts(
                    [webhooks.carrier_reference(event) for event in events]
                )
            else:
                facts = [None] * len(events)
            rows = []
            for event, fact in zip(events, facts, strict=True):
                for hook in hooks:
                    if (
                        hook.created_at <= event.occurred_at
                        and webhooks.subscribed(hook.events, event.type)
                        and webhooks.passes_filter(hook.filter or {}, fact)
                    ):
                        rows.append(
                            {
                                "webhook": hook.id,
                                "event": event.id,
                                "next_attempt_at": now,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
            for chunk in _chunks(rows, INSERT_CHUNK):
                WebhookDelivery.insert_many(chunk).on_conflict_ignore().execute()
            OutboxEvent.update(dispatched_at=now).where(
                OutboxEvent.id.in_([event.id for event in events])
            ).execute()
        counts["dispatched"] += len(events)
        counts["queued"] += len(rows)


def _send_out_of_band(
    http: requests.Session, now: dt.datetime, cfg: Settings, counts: Counter, budget: Counter
) -> None:
    while budget["left"] > 0:
        with write_transaction():
            batch = list(
                claimable(
                    WebhookDelivery.select(WebhookDelivery.id)
                    .where(
                        (WebhookDelivery.status == PENDING)
                        & (WebhookDelivery.ordered == False)  # noqa: E712
                        & (WebhookDelivery.next_attempt_at <= now)
                        & (
                            WebhookDelivery.claimed_until.is_null()
                            | (WebhookDelivery.claimed_until < now)
                        )
                        # A subquery, not a join: only the delivery rows are locked.
                        & WebhookDelivery.webhook.in_(
                            Webhook.select(Webhook.id).where(Webhook.active == True)  # noqa: E712
                        )
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(min(QUEUE_BATCH, budget["left"]))
                )
            )
            claims = {row.id: _claim(row.id, now, cfg) for row in batch}
        claimed = [delivery_id for delivery_id, token in claims.items() if token]
        if not claimed:
            return
        rows = (
            WebhookDelivery.select(WebhookDelivery, Webhook, OutboxEvent)
            .join(Webhook)
            .switch(WebhookDelivery)
            .join(OutboxEvent)
            .where(WebhookDelivery.id.in_(claimed))
            .order_by(WebhookDelivery.id)
        )
        for delivery in rows:
            budget["left"] -= 1
            _attempt(
                http,
                delivery,
                delivery.webhook,
                delivery.event,
                claims[delivery.id],
                now,
                cfg,
                counts,
            )


def _send_queues(
    http: requests.Session, now: dt.datetime, cfg: Settings, counts: Counter, budget: Counter
) -> None:
    while budget["left"] > 0:
        progressed = False
        hooks = list(
            Webhook.select().where(Webhook.active == True).order_by(Webhook.id)  # noqa: E712
        )
        for webhook in hooks:
            progressed |= _send_queue(http, webhook, now, cfg, counts, budget)
        if not progressed:
            return


def _send_queue(
    http: requests.Session,
    webhook: Webhook,
    now: dt.datetime,
    cfg: Settings,
    counts: Counter,
    budget: Counter,
) -> bool:
    """Send up to :data:`QUEUE_BATCH` of one subscription's queue, in order, stopping at a
    failure or at a delivery that is not due; return whether anything was sent. (The caller
    goes round the subscriptions, so a long backlog does not starve the others.) The read
    ahead starts small, since a failing receiver usually fails at its head, and doubles
    while the receiver keeps answering."""
    size, after, sent = 4, 0, 0
    while sent < QUEUE_BATCH:
        queue = list(
            WebhookDelivery.select(WebhookDelivery, OutboxEvent)
            .join(OutboxEvent)
            .switch(WebhookDelivery)
            .join(Webhook)
            .where(
                (WebhookDelivery.webhook == webhook.id)
                # Re-read with every batch, so that deactivating a subscription stops it soon.
                & (Webhook.active == True)  # noqa: E712
                & (WebhookDelivery.status == PENDING)
                & (WebhookDelivery.ordered == True)  # noqa: E712
                & (WebhookDelivery.id > after)
            )
            .order_by(WebhookDelivery.id)
            .limit(size)
        )
        for delivery in queue:
            if budget["left"] <= 0:
                return sent > 0
            # Stop at the first delivery that cannot be claimed (not due, or in another
            # run's hands): nothing behind it may overtake it.
            token = _claim(delivery.id, now, cfg)
            if token is None:
                return sent > 0
            budget["left"] -= 1
            sent += 1
            ok = _attempt(http, delivery, webhook, delivery.event, token, now, cfg, counts)
            if not ok or not webhook.active:
                return True
            after = delivery.id
        if len(queue) < size:
            return sent > 0
        size = min(size * 2, QUEUE_BATCH - sent)
    return True


def deliver_pending(now: dt.datetime | None = None, limit: int | None = None) -> dict[str, int]:
    """One delivery run: fan out new events, then send what is due (at most ``limit`` calls).

    ``now`` (naive UTC) is the run's clock, so tests can let back-offs elapse. Returns the
    counts: events ``dispatched``, deliveries ``queued``, calls ``sent``, ``succeeded``,
    ``retrying``, ``failed`` (attempts used up) and subscriptions ``disabled``.
    """
    cfg = settings()
    now = now or utcnow()
    counts: Counter = Counter(
        dict.fromkeys(
            ("dispatched", "queued", "sent", "succeeded", "retrying", "failed", "disabled"), 0
        )
    )
    budget = Counter(left=limit if limit is not None else 1 << 62)
    dispatch(now, counts)
    with egress.session(cfg.allow_private) as http:
        _send_out_of_band(http, now, cfg, counts, budget)
        _send_queues(http, now, cfg, counts, budget)
    return dict(counts)


# --- pings, redeliveries and the log --------------------------------------------------------


def ping(webhook: Webhook) -> WebhookDelivery:
    """Send a ``webhook.ping`` test event now (one attempt, logged like any delivery, even
    to an inactive subscription); return the delivery with its outcome."""
    cfg = settings()
    now = utcnow()
    with write_transaction():
        event = OutboxEvent.create(
            uid=audit.new_event_uid(),
            type=PING,
            occurred_at=now,
            data={"webhook": {"id": webhook.id, "description": webhook.description}},
            dispatched_at=now,
        )
        delivery = WebhookDelivery.create(
            webhook=webhook.id, event=event.id, ordered=False, max_attempts=1, next_attempt_at=now
        )
        audit.record_change(
            "create",
            "webhook_delivery",
            delivery.id,
            None,
            audit.jsonable(_summary(delivery, event)),
        )
    token = _claim(delivery.id, now, cfg)
    if token is not None:
        with egress.session(cfg.allow_private) as http:
            _attempt(http, delivery, webhook, event, token, now, cfg, Counter())
    return WebhookDelivery.get_by_id(delivery.id)


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a finished delivery again: a new round of attempts, sent out of band (it does
    not wait behind, nor hold up, the subscription's queue) once the subscription is active.
    409 while it is still pending."""
    with write_transaction():
        current = locked(WebhookDelivery.select().where(WebhookDelivery.id == delivery.id)).get()
        if current.status == PENDING:
            raise DomainError(
                409,
                f"Delivery {current.id} is still pending (next attempt at "
                f"{audit.jsonable(current.next_attempt_at)} UTC); it cannot be redelivered yet.",
            )
        event = OutboxEvent.get_by_id(current.event_id)
        before = audit.jsonable(_summary(current, event))
        current.status = PENDING
        current.ordered = False
        current.attempts = 0
        current.max_attempts = None
        current.next_attempt_at = utcnow()
        current.delivered_at = None
        current.claim_token = None
        current.claimed_until = None
        current.updated_at = utcnow()
        current.save()
        after = audit.jsonable(_summary(current, event))
        audit.record_change("update", "webhook_delivery", current.id, before, after)
    return current


def _summary(delivery: WebhookDelivery, event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event": {"id": event.uid, "type": event.type, "occurred_at": event.occurred_at},
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == PENDING else None,
        "delivered_at": delivery.delivered_at,
        "last_attempt_at": delivery.last_attempt_at,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def present(deliveries: list[WebhookDelivery]) -> list[dict[str, Any]]:
    """Deliveries as the log shows them, each with its attempts (two queries for a page)."""
    ids = [delivery.id for delivery in deliveries]
    attempts: dict[int, list] = {delivery_id: [] for delivery_id in ids}
    if ids:
        for attempt in (
            WebhookAttempt.select()
            .where(WebhookAttempt.delivery.in_(ids))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(
                {
                    "number": attempt.number,
                    "at": attempt.at,
                    "success": attempt.success,
                    "status_code": attempt.status_code,
                    "duration_ms": attempt.duration_ms,
                    "error": attempt.error,
                    "response": attempt.response_body,
                }
            )
    return [
        {**_summary(delivery, delivery.event), "attempts": attempts[delivery.id]}
        for delivery in deliveries
    ]


def deliveries_of(webhook_id: int):
    """The deliveries of one subscription with their events, newest first."""
    return (
        WebhookDelivery.select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent)
        .where(WebhookDelivery.webhook == webhook_id)
        .order_by(WebhookDelivery.id.desc())
    )
