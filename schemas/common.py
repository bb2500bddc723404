"""Fields and schemas shared by every resource."""

from __future__ import annotations

import datetime as dt
import re

import marshmallow as ma
from marshmallow import fields, validate

from registry import clock
from registry.errors import with_article
from schemas.dumping import FastDumpSchema

MAX_ID = 2**53 - 1
MAX_PAGE = 1_000_000


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = fields.String(metadata={"description": "Problem type URI (`about:blank`)."})
    title = fields.String(metadata={"description": "HTTP status phrase."})
    status = fields.Integer(metadata={"description": "HTTP status code."})
    detail = fields.String(metadata={"description": "What went wrong, for a person."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Validation messages by field (422)."},
    )


def Id(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """A positive integer id within the range every database stores, in a JSON body: a JSON
    integer, never a string or a float (for a query parameter, :func:`IdArg`)."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def IdArg(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """An id in a query string, where every value is text: ``?organization_id=3``."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class Flag(fields.Boolean):
    """A boolean in a JSON body: ``true`` or ``false`` only, as documented, never ``0``, ``1``
    or ``"yes"`` (marshmallow's Boolean takes those; it stays for query parameters, where
    every value is text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def to_naive_utc(value: dt.datetime) -> dt.datetime:
    """A client's datetime as stored: naive UTC (a naive one is in the configured zone)."""
    try:
        return clock.to_utc(value)
    except OverflowError as error:
        raise ma.ValidationError("Not a representable time.") from error


class Timestamp(fields.DateTime):
    """A stored naive-UTC datetime shown in the configured time zone, with its offset.

    On input, ISO 8601 with or without an offset (without one, the configured zone).
    """

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return clock.local_isoformat(value)

    def _deserialize(self, value, attr, data, **kwargs):
        return to_naive_utc(super()._deserialize(value, attr, data, **kwargs))


class Documented:
    """A validator with the OpenAPI keywords that state its rule (``registry.api`` adds
    ``openapi`` to the field's documentation): a ``pattern``, ``uniqueItems``… The check may
    then say more precisely than the pattern what is wrong."""

    def __init__(self, check, **openapi):
        self.check = check
        self.openapi = openapi

    def __call__(self, value):
        return self.check(value)


def _check_no_duplicates(value: list) -> None:
    if len(set(value)) != len(value):
        raise ma.ValidationError("Each value may appear once.")


#: A list whose values are distinct.
no_duplicates = Documented(_check_no_duplicates, uniqueItems=True)


def full_match(pattern: str, error: str) -> Documented:
    """A validator refusing (with ``error``) text that ``pattern`` (anchored with ``^…$``)
    does not match as a whole: Python's ``$`` also matches before a final newline."""
    compiled = re.compile(pattern)

    def check(value: str | None) -> None:
        if value is not None and not compiled.fullmatch(value):
            raise ma.ValidationError(error.format(input=value))

    return Documented(check, pattern=pattern)


#: ``MM-DD`` of a day that exists in some year (02-29 included), unanchored.
MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-9])|(?:0[13-9]|1[0-2])-30|(?:0[13578]|1[02])-31)"
)
#: A ``YYYY-MM-DD`` date, unanchored (29 February of a common year passes the pattern: the
#: server refuses it, 422).
DATE = rf"(?:[1-9][0-9]{{3}}|0[1-9][0-9]{{2}}|00[1-9][0-9]|000[1-9])-{MONTH_DAY}"
#: An ISO 8601 time after a date: ``T``, hours and minutes, optional seconds and fraction,
#: optional ``Z`` or offset; unanchored.
TIME = (
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)

#: Text without control characters (C0 and DEL): names, URLs, secrets.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"
no_control_characters = full_match(PLAIN_TEXT, "Control characters are not allowed.")

#: Mainland China phone numbers: a mobile (11 digits from 13–19, optionally after +86) or a
#: landline with its area code (010, 021, 0574…), a hyphen optional, the local number of 7
#: or 8 digits not starting with 0, and optionally an extension after -, 转 or ext.
MOBILE = re.compile(r"(?:\+?86[- ]?)?1[3-9][0-9]{9}")
LANDLINE = re.compile(r"0[0-9]{2,3}-?[1-9][0-9]{6,7}(?:(?:-|转|ext\.?)[0-9]{1,6})?")


def _check_phone(value: str | None) -> None:
    if value is None:
        return
    if not (MOBILE.fullmatch(value) or LANDLINE.fullmatch(value)):
        raise ma.ValidationError(
            f"Not a mainland phone number: {value!r}. Give a mobile number (11 digits starting "
            "13–19, e.g. 13812345678) or a landline with its area code (e.g. 0574-63000001, "
            "an extension as 0574-63000001-8001)."
        )


#: A contact phone in a mainland format, with a message that shows both forms.
validate_phone = Documented(_check_phone, pattern=f"^(?:{MOBILE.pattern}|{LANDLINE.pattern})$")


class ContactSchema(ma.Schema):
    """A contact person: not public."""

    name = fields.String(allow_none=True, validate=validate.Length(max=100))
    phone = fields.String(
        allow_none=True,
        validate=[validate.Length(max=40), validate_phone],
        metadata={
            "description": "Mobile (e.g. 13812345678) or landline with area code (e.g. "
            "0574-63000001, optional extension -8001)."
        },
    )
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


class ResourceSchema(FastDumpSchema):
    """``id``, ``created_at`` and ``updated_at``, read-only on every resource."""

    id = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)

    @ma.validates_schema
    def _refuse_empty_edit(self, data, partial=None, **kwargs):
        """A PATCH names at least one field: an empty one would bump the version and write an
        audit record of nothing (422, before If-Match is compared)."""
        if partial and not data:
            raise ma.ValidationError("Send at least one field to change.", "_schema")


class PageArgsSchema(ma.Schema):
    """Pagination of every list (SPEC §4)."""

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": "Page number, from 1. A page past the end is empty."},
    )
    page_size = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page, 1 to 100 (default 20)."},
    )


class ListArgsSchema(PageArgsSchema):
    """Pagination, search and sort of every list (SPEC §4)."""

    q = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Search in names (case-insensitive substring)."},
    )


def name_search(whose: str) -> fields.String:
    """The ``q`` of a list whose rows have a stored search key (``registry.names``)."""
    return fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": f"Search {whose} as people type them: any part, pinyin or pinyin "
            "initials (`jndsgzs` finds 技能大师工作室), full- or half-width brackets and "
            "letters, any case, spaces ignored."
        },
    )


def sort_field(choices) -> fields.String:
    """A ``sort`` parameter: ``field`` or ``-field`` (descending), comma-separated.

    ``choices`` is the resource's one list of sort keys: the view reads it back from the
    field (``metadata["sort_keys"]``) to find their columns.
    """
    choices = list(choices)
    allowed = set(choices) | {f"-{choice}" for choice in choices}
    key = "-?(" + "|".join(re.escape(choice) for choice in choices) + ")"

    def check(value: str) -> None:
        bad = [key for key in value.split(",") if key not in allowed]
        if bad:
            raise ma.ValidationError(
                f"Cannot sort by {', '.join(bad)}; use one of {', '.join(choices)} "
                "(prefix - for descending)."
            )

    return fields.String(
        validate=check,
        metadata={
            "description": f"Sort by {', '.join(choices)}; prefix `-` for descending, "
            "comma-separated.",
            "pattern": f"^{key}(,{key})*$",
            "sort_keys": tuple(choices),
        },
    )


def one_of(codes, what: str) -> validate.OneOf:
    return validate.OneOf(
        list(codes), error=f"Not {with_article(what)}: {{input}}. Use one of {{choices}}."
    )


def validate_town(value: str | None) -> None:
    """A town must be one of the configured towns and subdistricts (SPEC §5.1)."""
    from registry.places import towns

    if value is not None and value not in towns():
        raise ma.ValidationError(f"Not a town or subdistrict of this city: {value}.")


def update_schema(schema_class: type[ma.Schema]) -> ma.Schema:
    """The PATCH form of a schema: every top-level field optional, nested objects still whole.

    (``partial=True`` would also make the fields inside nested objects optional.)
    """
    return schema_class(partial=tuple(schema_class._declared_fields))


#: The largest amount (metric value, target) accepted: far beyond any real figure, and exact
#: as a double.
MAX_AMOUNT = 10**15


class Amount(fields.Number):
    """A non-negative JSON number (integer or decimal, never a boolean or a string); whole
    numbers are shown without a decimal point."""

    num_type = float

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The range _deserialize enforces, as a validator that apispec documents (with any
        # narrower Range the field adds, e.g. a target's minimum).
        self.validators.insert(0, validate.Range(min=0, max=MAX_AMOUNT))

    default_error_messages = {
        "invalid": "Not a number.",
        "range": f"Must be a number from 0 to {MAX_AMOUNT}.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not (0 <= value <= MAX_AMOUNT):  # also refuses NaN
            raise self.make_error("range")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def not_future(value: dt.date) -> None:
    """A date on or before today in the configured time zone."""
    from registry.clock import today

    if value > today():
        raise ma.ValidationError(f"Cannot be in the future (today is {today()}).")
