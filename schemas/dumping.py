"""A faster ``dump`` for marshmallow schemas, derived from their declared fields.

marshmallow serializes every field of every row through ``Field.serialize`` →
``get_value`` → ``_serialize``: for a page of 50 carriers that was a third of the request's
CPU (issue 10). :func:`dumper_for` turns a schema's ``dump_fields`` into a plan made once
per schema instance — for each field its output key, its source key and a function for its
value — and then into one generated Python function with a statement per field
(:func:`_generated`), which :class:`FastDumpSchema` uses when the object is a ``dict``
(what the domain functions return). It gives exactly what marshmallow gives
(``tests/test_dumping.py`` compares both on every kind of field and on the demo data
through the API): the common types (``String``, ``Integer``, ``Boolean``, ISO ``Date``)
are answered without a call when the value already has the output type (inline in the
generated code, as are lists of them and nested schemas), ``Nested`` and ``List`` are
planned recursively, and every other field, or a value of another type, goes to the
field's own ``_serialize``. A schema with dump hooks, its own ``get_attribute``, or a field
that does not read an attribute (``Method``, ``Function``) is dumped by marshmallow
unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

#: ``Field`` types whose value is output as it is when it already has the given type.
_SAME_WHEN = {
    fields.String: str,
    fields.Email: str,
    fields.Url: str,
    fields.Integer: int,
    fields.Boolean: bool,
}
_NONE = object()


def _value_function(field: fields.Field, attr: str) -> Callable[[Any, Any], Any]:
    """``(value, obj) -> output`` of ``field`` (named ``attr``), as ``field._serialize``, for
    the cases :func:`_inline` finds; any other field (a list of other items item by item)
    through its own ``_serialize``."""
    serialize = field._serialize
    how, what = _inline(field) or (None, None)
    if how == "same":
        return lambda value, obj: (
            value if value is None or type(value) is what else serialize(value, attr, obj)
        )
    if how == "date":
        return lambda value, obj: (
            value.isoformat() if type(value) is dt.date else serialize(value, attr, obj)
        )
    if type(field) is fields.List:
        inner = _value_function(field.inner, attr)
        return lambda value, obj: None if value is None else [inner(item, obj) for item in value]
    if how == "nested many":
        return lambda value, obj: None if value is None else [what(item) for item in value]
    if how == "nested":
        return lambda value, obj: None if value is None else what(value)
    return lambda value, obj: serialize(value, attr, obj)


def _inline(field: fields.Field) -> tuple[str, Any] | None:
    """How ``field`` is answered without its ``_serialize`` (the one place that decides it,
    for :func:`_value_function` and the generated code): ``("same", type)`` when a value of
    that type is output as it is, ``("date", None)`` for an ISO date, ``("list of same",
    type)`` for a list of such values, ``("nested", dump)`` / ``("nested many", dump)`` for
    a nested schema with a fast dump; None otherwise."""
    kind = type(field)
    same = _SAME_WHEN.get(kind)
    if same is not None and not getattr(field, "as_string", False):
        return "same", same
    if kind is fields.Date and field.format in (None, "iso"):
        return "date", None
    if kind is fields.List:
        inner = _inline(field.inner)
        if inner is not None and inner[0] == "same":
            return "list of same", inner[1]
        return None
    if kind is fields.Nested:
        dump = dumper_for(field.schema)
        if dump is not None:
            return ("nested many" if field.schema.many or field.many else "nested"), dump
    return None


def dumper_for(schema: ma.Schema) -> Callable[[Any], dict] | None:
    """The fast dump of one object by ``schema`` (made once per schema instance), or None
    when marshmallow must dump it itself (see the module's docstring)."""
    cached = schema.__dict__.get("_fast_dump", _NONE)
    if cached is not _NONE:
        return cached
    dump = _plan(schema)
    schema.__dict__["_fast_dump"] = dump
    return dump


def _plan(schema: ma.Schema) -> Callable[[Any], dict] | None:
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return None
    if type(schema).get_attribute is not ma.Schema.get_attribute:
        return None
    plan = []
    for attr, field in schema.dump_fields.items():
        source = field.attribute or attr
        if not field._CHECK_ATTRIBUTE or "." in source:
            return None
        key = field.data_key if field.data_key is not None else attr
        plan.append((key, source, _value_function(field, attr), field.dump_default, field))
    return _generated(schema, plan)


def _generated(schema: ma.Schema, plan: list) -> Callable[[Any], dict]:
    """The dump of one object by ``plan``, as the source of one Python function made with
    ``exec``: one statement per field, the common types answered inline (see
    :func:`_inline`), without a call per field. Names and keys enter the source only as
    ``repr`` literals; values only through the function's namespace. A non-dict object goes
    to marshmallow."""
    namespace: dict[str, Any] = {
        "missing": missing,
        "slow": ma.Schema._serialize,
        "schema": schema,
        "date": dt.date,
    }
    lines = [
        "def dump(obj):",
        "    if type(obj) is not dict:",
        "        return slow(schema, obj, many=False)",
        "    get = obj.get",
        "    out = {}",
    ]
    for index, (key, source, value_of, default, field) in enumerate(plan):
        namespace[f"f{index}"] = value_of
        inline = _inline(field)
        how, what = inline or (None, None)
        namespace[f"t{index}"] = what
        if how == "same":
            value = f"v if v is None or type(v) is t{index} else f{index}(v, obj)"
        elif how == "date":
            value = f"v.isoformat() if type(v) is date else f{index}(v, obj)"
        elif how == "list of same":
            value = (
                f"None if v is None else [x if x is None or type(x) is t{index} "
                f"else f{index}([x], obj)[0] for x in v]"
            )
        elif how == "nested":
            value = f"None if v is None else t{index}(v)"
        elif how == "nested many":
            value = f"None if v is None else [t{index}(x) for x in v]"
        else:
            value = f"f{index}(v, obj)"
        lines.append(f"    v = get({source!r}, missing)")
        if default is missing:
            lines.append("    if v is not missing:")
            lines.append(f"        out[{key!r}] = {value}")
        else:
            namespace[f"d{index}"] = default
            fill = f"d{index}()" if callable(default) else f"d{index}"
            lines.append("    if v is missing:")
            lines.append(f"        v = {fill}")
            lines.append(f"    out[{key!r}] = {value}")
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<dump of {type(schema).__name__}>", "exec"), namespace)
    return namespace["dump"]


class FastDumpSchema(ma.Schema):
    """A schema dumped through :func:`dumper_for` (same output, less CPU)."""

    def _serialize(self, obj: Any, *, many: bool = False):
        dump = dumper_for(self)
        if dump is None:
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [dump(item) for item in obj]
        return dump(obj)
