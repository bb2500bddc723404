"""Who may do what (SPEC §6): token checks and every authorisation decision.

Views, exports and the calendar never decide on their own: they call :func:`require`,
:func:`require_carrier_operator` and friends here, and read carriers through
``registry.directory`` (which builds on :func:`carrier_scope`, :func:`full_read_scope` and
:data:`PUBLIC_CARRIER_FIELDS`: which carriers, which fields, which filters and sorts).

The rules, in the words of SPEC §6:

* everyone (no token too) reads accredited carriers, public fields only;
* the bureau (admin and viewer) reads everything;
* an operator reads everything about its **own carriers**: those hosted by, or partnered
  with, one of its organisations;
* a partner reads everything about its **own submissions**: registrations (carriers that
  entered through ``/registrations``) hosted by, or partnered with, one of its organisations;
* only the bureau admin writes, except descriptive edits, annual reports and alert
  acknowledgements by an operator on its own carriers, and registrations by a partner for
  its own organisations until they are reviewed.

401 means no or a bad token, 403 a known principal acting outside its rights, 404 a carrier
the caller may not see at all (saying 403 would reveal that it exists).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable

import peewee as pw
from flask import g, request
from flask_smorest import abort

from registry import db
from registry.db import utcnow
from registry.errors import with_article
from registry.models import Alert, AnnualReport, Carrier, Principal, Token

BUREAU_ADMIN = "bureau_admin"
BUREAU_VIEWER = "bureau_viewer"
OPERATOR = "operator"
PARTNER = "partner"
BUREAU_ROLES = frozenset({BUREAU_ADMIN, BUREAU_VIEWER})
ORGANISATION_ROLES = frozenset({OPERATOR, PARTNER})
ALL_ROLES = (BUREAU_ADMIN, BUREAU_VIEWER, OPERATOR, PARTNER)

#: Carrier statuses the public directory shows.
PUBLIC_STATUSES = frozenset({"accredited"})
#: Statuses of a registration the bureau has not accepted: edited through /registrations only.
REGISTRATION_STATUSES = frozenset({"submitted", "rejected"})
#: Carrier fields anyone may read; everything else (contacts, attributes, lead person,
#: internal dates, alert counts) needs a token that may read the carrier fully.
PUBLIC_CARRIER_FIELDS = frozenset(
    {
        "id",
        "name",
        "type",
        "level",
        "status",
        "host_organization_id",
        "host_organization",
        "partners",
        "town",
        "tags",
        "description",
        "established_on",
        "accredited_on",
        "certificate_no",
        "valid_until",
        "created_at",
        "updated_at",
        # Roster counts (issue 12): public, never names.
        "roster_metrics",
    }
)
#: Carrier fields only the bureau admin may write (an operator edits the rest of its own).
#: ``partners`` decides who else reads and edits the carrier (SPEC §6: only the bureau edits
#: a carrier's partners).
BUREAU_ONLY_CARRIER_FIELDS = frozenset(
    {
        "host_organization_id",
        "level",
        "type",
        "valid_until",
        "next_evaluation_on",
        "partners",
        "report_due",
    }
)

#: Methods that change nothing: the only ones open to the public and the bureau viewer.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

TOKEN_PREFIX = "crt_"
#: Bytes of randomness in a token (SPEC §4: random; the issue: at least 32 bytes).
TOKEN_BYTES = 32
#: ``last_used_at`` is bookkeeping, not an audited write: refreshed at most this often.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
FEED_KEY_PREFIX = "crf_"
#: The query parameter carrying a calendar feed key (calendar clients cannot send headers).
FEED_KEY_PARAMETER = "key"


# --- tokens ---------------------------------------------------------------------------


def new_token() -> str:
    """A fresh random token: 32 bytes from the OS's CSPRNG, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 of the token: what is stored (the token has enough entropy for a fast hash)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(
    principal: Principal, name: str, expires_at: dt.datetime | None = None
) -> tuple[Token, str]:
    """Create a token row for ``principal`` and return it with the token, shown once."""
    token = new_token()
    row = Token.create(
        principal=principal,
        name=name,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 4],
        expires_at=expires_at,
    )
    return row, token


def is_active(token: Token, now: dt.datetime | None = None) -> bool:
    """Neither revoked nor expired."""
    now = now or utcnow()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def is_enabled(principal: Principal) -> bool:
    """Not disabled by an admin (issue 13): a disabled person's tokens, feed key and page
    sessions all stop working."""
    return principal.disabled_at is None


def _token_by_hash(digest) -> pw.ModelSelect:
    return Token.select(Token, Principal).join(Principal).where(Token.token_hash == digest)


def _lookup_token(digest: str) -> Token | None:
    """The token row of ``digest`` with its principal, read now (one indexed query).

    Only the statement is built once (``db.select_once``), never a token cached: revocation
    and expiry are read from the database on every request, so a revoked token is refused
    from the next request on."""
    found = db.select_once("token by hash", _token_by_hash, digest, model=Token)
    return found[0] if found else None


def principal_for_token(token: str) -> tuple[Principal, Token] | None:
    """The principal behind a presented token, or None when it is unknown, expired or
    revoked, or its principal disabled."""
    digest = hash_token(token)
    row = _lookup_token(digest)
    # The lookup is by the unique index on the hash; the constant-time comparison guards the
    # equality itself so that nothing about a stored hash leaks through timing.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if not is_active(row) or not is_enabled(row.principal):
        return None
    return row.principal, row


def _touch(token: Token) -> None:
    """Refresh ``last_used_at`` at most once per :data:`LAST_USED_RESOLUTION` per token, best
    effort: skipped when the database's write lock (or the token's row) is taken, so that a
    read never waits for, or fails on, a write of its own bookkeeping."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # The condition in SQL too: of concurrent requests with one token, one writes.
    stale = Token.last_used_at.is_null() | (Token.last_used_at <= now - LAST_USED_RESOLUTION)
    update = Token.update(last_used_at=now).where(Token.id == token.id, stale)
    if db.try_write(update.execute):
        token.last_used_at = now


def new_feed_key() -> str:
    """A fresh calendar feed key: 32 bytes of entropy, URL-safe (shown once)."""
    return FEED_KEY_PREFIX + secrets.token_urlsafe(32)


def active_token_condition(now: dt.datetime | None = None):
    """Tokens neither revoked nor expired at ``now``, as a query condition."""
    now = now or utcnow()
    return Token.revoked_at.is_null() & (Token.expires_at.is_null() | (Token.expires_at > now))


def principal_for_feed_key(key: str) -> Principal | None:
    """The principal whose calendar feed key this is, or None.

    A key acts for its principal only while the principal still holds an active token: a
    principal whose tokens were all revoked or expired is revoked, and so is its key."""
    digest = hash_token(key)
    found = Principal.get_or_none(Principal.feed_key_hash == digest)
    if found is None or not hmac.compare_digest(found.feed_key_hash, digest):
        return None
    if not is_enabled(found):
        return None
    return found if holds_active_token(found) else None


def holds_active_token(who: Principal) -> bool:
    """Whether ``who`` holds a token neither revoked nor expired: its feed key works only
    then."""
    return (
        Token.select(Token.id)
        .where((Token.principal == who.id) & active_token_condition())
        .exists()
    )


def accepts_feed_key() -> bool:
    """Only the calendar feeds (GET ``…/calendar.ics``) may be read with a feed key."""
    return request.method in ("GET", "HEAD") and request.path.endswith("/calendar.ics")


def authenticate() -> None:
    """Set ``g.principal``, ``g.token`` and ``g.actor`` (None when anonymous); 401 for a bad
    token.

    A calendar feed is also readable with the caller's feed key in the ``key`` query
    parameter; a wrong or revoked key is a 401 like a bad token.
    """
    g.principal = None
    g.token = None
    g.actor = None
    header = request.headers.get("Authorization")
    if header is None:
        if request.method not in READ_METHODS:
            # SPEC §6: the public may only read; say so before looking at the body.
            abort(401, message="This needs a token.", headers={"WWW-Authenticate": "Bearer"})
        key = request.args.get(FEED_KEY_PARAMETER)
        if key is not None and accepts_feed_key():
            who = principal_for_feed_key(key)
            if who is None:
                abort(401, message="The calendar feed key is unknown or revoked.")
            g.principal = who
            g.actor = who.name
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(
            401,
            message="Use 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="registry"'},
        )
    found = principal_for_token(token.strip())
    if found is None:
        abort(
            401,
            message="The token is unknown, expired or revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="registry", error="invalid_token"'},
        )
    g.principal, g.token = found
    g.actor = g.principal.name
    _touch(g.token)
    if g.principal.role == BUREAU_VIEWER and request.method not in READ_METHODS:
        # SPEC §6: a bureau viewer reads everything and writes nothing.
        abort(403, message="A bureau_viewer may not change anything.")


def principal() -> Principal | None:
    """The authenticated caller of this request, or None when anonymous."""
    return getattr(g, "principal", None)


def current_token() -> Token | None:
    """The token this request was made with, or None when anonymous."""
    return getattr(g, "token", None)


def organisations_of(who: Principal | None) -> set[int]:
    """The organisations ``who`` acts for (none for the bureau and the public)."""
    return set(who.organization_ids or []) if who is not None else set()


def me(who: Principal) -> dict:
    """What ``GET /me`` answers (SPEC §5.1)."""
    return {
        "name": who.name,
        "role": who.role,
        "organizations": sorted(organisations_of(who)),
    }


# --- roles ------------------------------------------------------------------------------


def require(*roles: str) -> Principal:
    """The caller, who must hold one of ``roles``: 401 when anonymous, 403 otherwise."""
    who = principal()
    if who is None:
        abort(401, message="This needs a token.", headers={"WWW-Authenticate": "Bearer"})
    if who.role not in roles:
        abort(403, message=f"{with_article(who.role, True)} may not do this.")
    return who


def require_webhook_admin() -> Principal:
    """Webhooks (SPEC §6 "policies, targets, webhooks, tokens"): the bureau admin only. Not
    even viewers read them: target URLs carry chat-robot keys, and a subscription decides
    where the registry's data goes."""
    return require(BUREAU_ADMIN)


def require_reader() -> Principal:
    """Any authenticated principal (the non-public parts of the API)."""
    return require(*ALL_ROLES)


def require_bureau() -> Principal:
    """The bureau, admin or viewer: reads the audit trail, alerts, targets (SPEC §1)."""
    return require(BUREAU_ADMIN, BUREAU_VIEWER)


def require_admin() -> Principal:
    """The bureau admin: policies, targets, webhooks, tokens, review, accreditation."""
    return require(BUREAU_ADMIN)


def is_bureau(who: Principal | None) -> bool:
    return who is not None and who.role in BUREAU_ROLES


# --- carriers ---------------------------------------------------------------------------


def own_carrier_ids_query(who: Principal) -> pw.ModelSelect:
    """Subquery of the carriers a non-bureau caller may read fully.

    An operator's own carriers are those hosted by, or partnered with, its organisations; a
    partner's are its own submissions: registrations linked to its organisations.
    """
    query = Carrier.linked_to(organisations_of(who))
    if who.role == PARTNER:
        query = query.where(Carrier.submitted_by.is_null(False))
    elif who.role != OPERATOR:
        query = query.where(Carrier.id == -1)
    return query


def is_own_carrier(who: Principal | None, carrier: Carrier) -> bool:
    """Whether ``carrier`` is one of the caller's own (see :func:`own_carrier_ids_query`)."""
    if who is None or who.role not in ORGANISATION_ROLES or not organisations_of(who):
        return False
    return own_carrier_ids_query(who).where(Carrier.id == carrier.id).exists()


def carrier_scope(
    query: pw.ModelSelect, who: Principal | None, public: pw.Expression | None = None
) -> pw.ModelSelect:
    """Restrict a carrier query to what the caller may see at all.

    The bureau sees everything; everyone sees accredited carriers (public fields), or those
    meeting ``public`` when given (registry.directory narrows it on a past day); operators
    and partners also see their own carriers. List totals come from the same query, so they
    always agree with what is shown. :func:`can_see_carrier` is the same rule for one
    carrier already read.
    """
    if is_bureau(who):
        return query
    public = Carrier.status.in_(list(PUBLIC_STATUSES)) if public is None else public
    if who is None:
        return query.where(public)
    return query.where(public | Carrier.id.in_(own_carrier_ids_query(who)))


def counted_scope(
    query: pw.ModelSelect, who: Principal | None, status: pw.Field
) -> tuple[pw.ModelSelect, pw.ModelSelect | None]:
    """:func:`carrier_scope` split for counting from counts by status (``CarrierCount``):
    ``(counted, own)``, ``query`` narrowed to the groups the caller sees by their status
    (the bureau: all; everyone else: the public statuses), and, for an operator or partner,
    the carrier query of its own carriers whose status is not public, to be counted beside
    them (None for the others). Together they are the carriers :func:`carrier_scope`
    gives, each counted once."""
    if is_bureau(who):
        return query, None
    counted = query.where(status.in_(sorted(PUBLIC_STATUSES)))
    if who is None:
        return counted, None
    own = Carrier.select().where(
        Carrier.id.in_(own_carrier_ids_query(who)) & Carrier.status.not_in(sorted(PUBLIC_STATUSES))
    )
    return counted, own


def can_see_carrier(who: Principal | None, carrier: Carrier) -> bool:
    """Whether the caller may see ``carrier`` at all: :func:`carrier_scope`'s rule for one
    carrier already read (its default ``public``)."""
    return is_bureau(who) or carrier.status in PUBLIC_STATUSES or is_own_carrier(who, carrier)


def full_read_scope(query: pw.ModelSelect, who: Principal | None) -> pw.ModelSelect:
    """Restrict a carrier query to the carriers the caller may read fully."""
    if is_bureau(who):
        return query
    if who is None:
        return query.where(Carrier.id == -1)
    return query.where(Carrier.id.in_(own_carrier_ids_query(who)))


def can_read_carrier_fully(who: Principal | None, carrier: Carrier) -> bool:
    """Whether the caller may read every field of ``carrier`` (and its history)."""
    return is_bureau(who) or is_own_carrier(who, carrier)


def full_read_ids(who: Principal | None, carriers: list[Carrier]) -> set[int]:
    """Of ``carriers``, the ids the caller may read fully (one query for the whole page)."""
    if is_bureau(who):
        return {carrier.id for carrier in carriers}
    if who is None or not carriers:
        return set()
    ids = [carrier.id for carrier in carriers]
    own = own_carrier_ids_query(who).where(Carrier.id.in_(ids))
    return {row.id for row in own}


def public_view(item: dict) -> dict:
    """A carrier's API dict reduced to its public fields."""
    return {key: value for key, value in item.items() if key in PUBLIC_CARRIER_FIELDS}


def require_carrier_operator(carrier: Carrier) -> Principal:
    """The bureau admin, or an operator of one of ``carrier``'s organisations.

    The rule of SPEC §6 for descriptive edits, annual reports and alert acknowledgements.
    A registration not accepted yet is the partner's: operators leave it alone.
    """
    who = require_reader()
    if who.role == BUREAU_ADMIN:
        return who
    if who.role == OPERATOR and is_own_carrier(who, carrier):
        if carrier.status in REGISTRATION_STATUSES:
            abort(
                403,
                message=f"Carrier {carrier.id} is a registration ({carrier.status}); "
                "only its partner and the bureau change it.",
            )
        return who
    abort(403, message=f"{with_article(who.role, True)} may not change carrier {carrier.id}.")
    raise AssertionError  # pragma: no cover


def require_carrier_editor(carrier: Carrier, fields: Iterable[str] = ()) -> Principal:
    """A descriptive edit of ``carrier`` touching ``fields``: an operator may not move it to
    another host, change its type or level, or override its dates (403)."""
    who = require_carrier_operator(carrier)
    if who.role != BUREAU_ADMIN:
        protected = BUREAU_ONLY_CARRIER_FIELDS & set(fields)
        if protected:
            abort(403, message="Only the bureau may change " + ", ".join(sorted(protected)) + ".")
    return who


# --- organisations ----------------------------------------------------------------------

#: What an operator keeps current on its own organisation (SPEC §6 "Operators also keep
#: their own organisation's address and contact"); the rest is the bureau's.
OPERATOR_ORGANIZATION_FIELDS = frozenset({"address", "contact"})


def require_organization_editor(organization_id: int, fields: Iterable[str]) -> Principal:
    """Editing an organisation: the bureau admin, or an operator of that organisation
    changing only its address and contact (403 naming any other field)."""
    who = require(BUREAU_ADMIN, OPERATOR)
    if who.role == OPERATOR:
        if organization_id not in organisations_of(who):
            abort(403, message="An operator edits only its own organisations.")
        protected = set(fields) - OPERATOR_ORGANIZATION_FIELDS
        if protected:
            abort(403, message="Only the bureau may change " + ", ".join(sorted(protected)) + ".")
    return who


# --- registrations ----------------------------------------------------------------------


def registration_scope(query: pw.ModelSelect, who: Principal) -> pw.ModelSelect:
    """Registrations (carriers that entered through /registrations) the caller may read."""
    return full_read_scope(query.where(Carrier.submitted_by.is_null(False)), who)


def require_registrant() -> Principal:
    """Submitting a registration: the bureau admin, or a partner (403 otherwise). Which
    organisations a partner may name is :func:`registry.registrations.resolve`'s rule."""
    return require(BUREAU_ADMIN, PARTNER)


def require_registration_editor(carrier: Carrier) -> Principal:
    """Editing or withdrawing a registration: the bureau admin, or a partner acting for the
    organisation that submitted it (SPEC §6 "own, until reviewed"). Another partner named on
    it, even one that may read it, is refused (403)."""
    who = require(BUREAU_ADMIN, PARTNER)
    if who.role == PARTNER and carrier.submitted_by_organization not in organisations_of(who):
        abort(403, message=f"Registration {carrier.id} is not one of your submissions.")
    return who


def require_bureau_reader() -> Principal:
    """Bureau-only reads (targets): admins and viewers."""
    return require(BUREAU_ADMIN, BUREAU_VIEWER)


def may_submit_report(who: Principal | None, carrier: Carrier) -> bool:
    """Annual reports are submitted by the bureau admin, an operator of the carrier, or a
    partner of a joint base the bureau approved (SPEC §6: "a partner whose joint base was
    approved submits that base's annual reports"); a registration awaiting review or
    rejected has no reports."""
    if who is None:
        return False
    if who.role == BUREAU_ADMIN:
        return True
    if who.role == PARTNER and carrier.status in REGISTRATION_STATUSES:
        return False
    return who.role in ORGANISATION_ROLES and is_own_carrier(who, carrier)


def require_report_submitter(carrier: Carrier) -> Principal:
    """The caller, who must be allowed to submit (or resubmit) ``carrier``'s reports."""
    who = require_reader()
    if not may_submit_report(who, carrier):
        abort(
            403,
            message=f"{with_article(who.role, True)} may not submit annual reports of carrier "
            f"{carrier.id}.",
        )
    return who


def report_scope(query: pw.ModelSelect, who: Principal) -> pw.ModelSelect:
    """Restrict an annual-report query to the reports the caller may read: the bureau reads
    all, operators and partners those of their own carriers."""
    if is_bureau(who):
        return query
    return query.where(AnnualReport.carrier.in_(own_carrier_ids_query(who)))


def alert_scope(query: pw.ModelSelect, who: Principal):
    """Restrict an alert query to the caller's: the bureau sees all, operators and partners
    the alerts of the carriers they read fully (see :func:`own_carrier_ids_query`)."""
    if is_bureau(who):
        return query
    return query.where(Alert.carrier.in_(own_carrier_ids_query(who)))


def require_alert_acknowledger(carrier: Carrier) -> Principal:
    """Acknowledging an alert: the bureau admin, or an operator of the carrier (SPEC §6)."""
    who = require(BUREAU_ADMIN, BUREAU_VIEWER, OPERATOR, PARTNER)
    if who.role == BUREAU_ADMIN:
        return who
    if who.role == OPERATOR and is_own_carrier(who, carrier):
        return who
    abort(
        403,
        message=f"{with_article(who.role, True)} may not acknowledge the alerts of carrier "
        f"{carrier.id}.",
    )
    raise AssertionError  # pragma: no cover
