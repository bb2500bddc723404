"""Who may do what (SPEC §6): token checks and every authorisation decision.

Views never decide on their own: they call :func:`require`, :func:`carrier_scope`,
:func:`can_read_carrier_fully` and friends here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import peewee as pw
from flask import g, request
from flask_smorest import abort

from registry.db import utcnow
from registry.models import Alert, Carrier, CarrierPartner, Principal, Token

BUREAU_ADMIN = "bureau_admin"
BUREAU_VIEWER = "bureau_viewer"
OPERATOR = "operator"
PARTNER = "partner"
BUREAU_ROLES = frozenset({BUREAU_ADMIN, BUREAU_VIEWER})
ORGANISATION_ROLES = frozenset({OPERATOR, PARTNER})

#: Carrier statuses the public directory shows.
PUBLIC_STATUSES = frozenset({"accredited"})
#: Carrier fields anyone may read; everything else (contacts, attributes, internal dates,
#: alert counts, review notes) needs a token that may read the carrier fully.
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
    }
)

TOKEN_PREFIX = "crt_"
FEED_KEY_PREFIX = "crf_"
#: The query parameter carrying a calendar feed key (calendar clients cannot send headers).
FEED_KEY_PARAMETER = "key"


# --- tokens ---------------------------------------------------------------------------


def new_token() -> str:
    """A fresh random token: 32 bytes of entropy, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of the token: what is stored (the token has enough entropy for a fast hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(principal: Principal, name: str, expires_at=None) -> tuple[Token, str]:
    """Create a token row for ``principal`` and return it with the token shown once."""
    token = new_token()
    row = Token.create(
        principal=principal,
        name=name,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 4],
        expires_at=expires_at,
    )
    return row, token


def principal_for_token(token: str) -> tuple[Principal, Token] | None:
    """The principal behind a presented token, or None when it is unknown, expired or revoked."""
    digest = hash_token(token)
    row = Token.select(Token, Principal).join(Principal).where(Token.token_hash == digest).first()
    # The lookup is by an index on the hash; the constant-time comparison guards the equality
    # itself so that nothing about the stored hash leaks through timing.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.principal, row


def new_feed_key() -> str:
    """A fresh calendar feed key: 32 bytes of entropy, URL-safe (shown once)."""
    return FEED_KEY_PREFIX + secrets.token_urlsafe(32)


def principal_for_feed_key(key: str) -> Principal | None:
    """The principal whose calendar feed key this is, or None."""
    digest = hash_token(key)
    found = Principal.get_or_none(Principal.feed_key_hash == digest)
    if found is None or not hmac.compare_digest(found.feed_key_hash, digest):
        return None
    return found


def accepts_feed_key() -> bool:
    """Only the calendar feeds (GET ``…/calendar.ics``) may be read with a feed key."""
    return request.method in ("GET", "HEAD") and request.path.endswith("/calendar.ics")


def authenticate() -> None:
    """Set ``g.principal`` (None when anonymous) from the request; 401 for a bad token.

    A calendar feed is also readable with the caller's feed key in the ``key`` query
    parameter; a wrong or revoked key is a 401 like a bad token.
    """
    g.principal = None
    g.token = None
    g.actor = None
    header = request.headers.get("Authorization")
    if header is None:
        key = request.args.get(FEED_KEY_PARAMETER)
        if key is not None and accepts_feed_key():
            who = principal_for_feed_key(key)
            if who is None:
                abort(401, message="The calendar feed key is unknown or revoked.")
            g.principal = who
            g.actor = f"{who.name} (feed key)"
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
    g.actor = f"{g.principal.name} ({g.token.name})"


def principal() -> Principal | None:
    return getattr(g, "principal", None)


def organisations_of(who: Principal | None) -> set[int]:
    return set(who.organization_ids or []) if who is not None else set()


# --- decisions ------------------------------------------------------------------------


def require(*roles: str) -> Principal:
    """The caller, who must hold one of ``roles``: 401 when anonymous, 403 otherwise."""
    who = principal()
    if who is None:
        abort(401, message="This needs a token.", headers={"WWW-Authenticate": "Bearer"})
    if who.role not in roles:
        abort(403, message=f"A {who.role} may not do this.")
    return who


def require_reader() -> Principal:
    """Any authenticated principal (the non-public parts of the API)."""
    return require(BUREAU_ADMIN, BUREAU_VIEWER, OPERATOR, PARTNER)


def is_bureau(who: Principal | None) -> bool:
    return who is not None and who.role in BUREAU_ROLES


def own_carrier_ids_query(who: Principal):
    """Subquery of the ids of carriers hosted by, or partnered with, the caller's organisations."""
    orgs = list(organisations_of(who)) or [-1]
    partnered = CarrierPartner.select(CarrierPartner.carrier).where(
        CarrierPartner.organization.in_(orgs)
    )
    return Carrier.select(Carrier.id).where(
        Carrier.host_organization.in_(orgs) | Carrier.id.in_(partnered)
    )


def is_own_carrier(who: Principal | None, carrier: Carrier) -> bool:
    """Whether ``carrier`` belongs to one of the caller's organisations (host or partner)."""
    orgs = organisations_of(who)
    if not orgs:
        return False
    if carrier.host_organization_id in orgs:
        return True
    return (
        CarrierPartner.select()
        .where((CarrierPartner.carrier == carrier.id) & CarrierPartner.organization.in_(list(orgs)))
        .exists()
    )


def carrier_scope(query: pw.ModelSelect, who: Principal | None) -> pw.ModelSelect:
    """Restrict a carrier query to what the caller may see at all.

    The bureau sees everything; everyone sees accredited carriers (public fields); operators
    and partners also see every carrier of their own organisations.
    """
    if is_bureau(who):
        return query
    public = Carrier.status.in_(list(PUBLIC_STATUSES))
    if who is None:
        return query.where(public)
    return query.where(public | Carrier.id.in_(own_carrier_ids_query(who)))


def can_read_carrier_fully(who: Principal | None, carrier: Carrier) -> bool:
    """Whether the caller may read every field of ``carrier``."""
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


def get_readable_carrier(carrier_id: int) -> tuple[Carrier, bool]:
    """The carrier and whether it may be read fully; 404 when the caller may not see it at all
    (revealing that a non-public carrier exists would leak)."""
    who = principal()
    carrier = carrier_scope(Carrier.select(), who).where(Carrier.id == carrier_id).first()
    if carrier is None:
        abort(404, message=f"No carrier {carrier_id}.")
    return carrier, can_read_carrier_fully(who, carrier)


def require_carrier_editor(carrier: Carrier) -> Principal:
    """Descriptive edits: the bureau admin, or an operator of the carrier's organisations."""
    who = require(BUREAU_ADMIN, BUREAU_VIEWER, OPERATOR, PARTNER)
    if who.role == BUREAU_ADMIN:
        return who
    if who.role == OPERATOR and is_own_carrier(who, carrier):
        return who
    abort(403, message=f"A {who.role} may not edit carrier {carrier.id}.")
    raise AssertionError  # pragma: no cover


def fully_readable(query: pw.ModelSelect, who: Principal) -> pw.ModelSelect:
    """Restrict a carrier query to the carriers whose internal dates the caller may read
    (deadlines and calendars): the bureau all, operators and partners their own."""
    if is_bureau(who):
        return query
    return query.where(Carrier.id.in_(own_carrier_ids_query(who)))


def alert_scope(query: pw.ModelSelect, who: Principal):
    """Restrict an alert query to the caller's: the bureau sees all, operators and partners
    the alerts of their own carriers (host or partner)."""
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
    abort(403, message=f"A {who.role} may not acknowledge the alerts of carrier {carrier.id}.")
    raise AssertionError  # pragma: no cover
