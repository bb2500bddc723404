"""Operator pages (issue 13 item 4): my carriers, editing their descriptive fields, annual
reports, acknowledging alerts.

Every page reads through ``registry.directory`` and decides through ``registry.access``, and
every write is the API's own domain function: an edit is ``carriers.update_carrier`` guarded
by the version the form was rendered with (the carrier's ETag in a hidden field), so a stale
edit is refused and shown as a conflict instead of overwriting another person's change.
"""

from __future__ import annotations

import re

from flask import flash, g, redirect, request, url_for

from registry import access, alerts, carriers, directory, reports
from registry.api.carriers import blp as carriers_api
from registry.errors import DomainError
from registry.models import Alert, AnnualReport, Change
from registry.places import towns
from registry.vocabulary import REPORT_METRICS
from registry.web import forms
from registry.web.pages import bp, render, safe_next, signed_in
from schemas.carriers import CarrierSchema
from schemas.common import update_schema
from schemas.reports import AnnualReportSchema

#: The descriptive fields an operator edits on a page, with their labels.
EDIT_FIELDS = {
    "name": "名称",
    "town": "所在镇（街道）",
    "description": "简介",
    "lead_person": "负责人",
    "established_on": "成立日期",
    "tags": "标签",
    "contact": "联系人",
}
CONTACT_FIELDS = {"name": "联系人姓名", "phone": "联系电话", "email": "电子邮箱"}
#: Fields a person may clear on the form (sent as null, as the API would receive them).
CLEARABLE = ("town", "description", "lead_person", "established_on")
carrier_update_schema = update_schema(CarrierSchema)
report_schema = AnnualReportSchema()


def _editor(carrier_id: int):
    """The carrier, when the person signed in may edit it (as the API's PATCH decides)."""
    carrier = directory.find(carrier_id)
    access.require_carrier_editor(carrier)
    return carrier


@bp.route("/my/carriers")
@signed_in(access.OPERATOR)
def my_carriers():
    """The operator's own carriers: hosted by, or partnered with, its organisations."""
    rows = list(directory.sort(directory.readable({}), "name"))
    items = directory.shown(rows)
    open_alerts = (
        access.alert_scope(alerts.with_carrier(), g.principal)
        .where(Alert.status == "open")
        .order_by(Alert.due_on)
    )
    return render(
        "operator/my_carriers.html",
        carriers=items,
        alerts=[alerts.as_dict(alert) for alert in open_alerts],
        editable={
            item["id"] for item in items if item["status"] not in access.REGISTRATION_STATUSES
        },
    )


# --- editing ---------------------------------------------------------------------------------


def _form_values(form) -> dict:
    """The edit form's fields as typed (to show them again)."""
    values = {name: form.get(name, "") for name in EDIT_FIELDS if name != "contact"}
    values["contact"] = {name: form.get(f"contact_{name}", "") for name in CONTACT_FIELDS}
    return values


def _carrier_values(item: dict) -> dict:
    """A carrier as the edit form shows it."""
    contact = item.get("contact") or {}
    return {
        "name": item["name"],
        "town": item.get("town") or "",
        "description": item.get("description") or "",
        "lead_person": item.get("lead_person") or "",
        "established_on": item["established_on"].isoformat() if item.get("established_on") else "",
        "tags": "，".join(item.get("tags") or []),
        "contact": {name: contact.get(name) or "" for name in CONTACT_FIELDS},
    }


def _edit_body(form) -> dict:
    """The PATCH body an API client would send for the edit form."""
    data = forms.form_data(form, ["name", *CLEARABLE], nullable=CLEARABLE)
    data.setdefault("name", "")
    data["tags"] = [tag for tag in re.split(r"[,，、;；\s]+", form.get("tags", "")) if tag]
    contact = {name: form.get(f"contact_{name}", "").strip() or None for name in CONTACT_FIELDS}
    data["contact"] = contact if any(contact.values()) else None
    return data


def _normalised(name: str, value):
    if name == "contact":
        value = value or {}
        return {key: value.get(key) or None for key in CONTACT_FIELDS}
    if name == "tags":
        return list(value or [])
    return value if value not in ("",) else None


def _changes(loaded: dict, current: dict) -> dict:
    """The fields of ``loaded`` whose value differs from the carrier as stored."""
    return {
        name: value
        for name, value in loaded.items()
        if _normalised(name, value) != _normalised(name, current.get(name))
    }


def _render_edit(carrier, item, values, etag, status=200, errors=None, conflict=None):
    errors = errors or {}
    forms.name_inner_fields(errors, "contact", CONTACT_FIELDS)
    return render(
        "operator/edit_carrier.html",
        status,
        carrier=item,
        values=values,
        etag=etag,
        errors=errors,
        conflict=conflict,
        town_options=[(town, town) for town in towns()],
        labels_of_fields=EDIT_FIELDS,
        contact_labels=CONTACT_FIELDS,
    )


@bp.route("/my/carriers/<id:carrier_id>/edit", methods=["GET", "POST"])
@signed_in(access.OPERATOR, access.BUREAU_ADMIN)
def edit_carrier(carrier_id: int):
    """Edit a carrier's descriptive fields, guarded by the version the form was read at."""
    carrier = _editor(carrier_id)
    item = directory.shown([carrier])[0]
    if request.method == "GET":
        return _render_edit(carrier, item, _carrier_values(item), carriers_api.etag(carrier))
    values = _form_values(request.form)
    sent_etag = request.form.get("etag", "")
    loaded, errors = forms.validate(carrier_update_schema, _edit_body(request.form))
    if errors:
        return _render_edit(carrier, item, values, sent_etag, 422, errors)
    changed = _changes(loaded, item)
    if not changed:
        flash("没有需要保存的修改。", "info")
        return redirect(_after_edit(carrier_id))
    expected = carriers_api.versions_named([sent_etag], carrier_id)
    try:
        access.require_carrier_editor(carrier, changed)
        updated = carriers.update_carrier(
            carrier_id,
            changed,
            expected,
            check=lambda row: access.require_carrier_editor(row, changed),
        )
    except DomainError as error:
        if error.status == 412:
            return _conflict(carrier_id, values, loaded)
        if error.status in (409, 422):
            errors = forms.domain_errors(error)
            return _render_edit(carrier, item, values, sent_etag, error.status, errors)
        raise
    flash(f"已保存“{updated.name}”的修改。", "success")
    return redirect(_after_edit(carrier_id))


def _after_edit(carrier_id: int) -> str:
    """Where a write leads: an operator back to its carriers, the bureau to the form."""
    if g.principal.role == access.OPERATOR:
        return url_for("web.my_carriers")
    return url_for("web.edit_carrier", carrier_id=carrier_id)


def _conflict(carrier_id: int, values: dict, loaded: dict):
    """The edit form again, after another person changed the carrier first: what is stored
    now next to what this person typed, and the current version in the form, so that a
    second submission is a decision taken knowing the other change."""
    carrier = directory.find(carrier_id)
    item = directory.shown([carrier])[0]
    stored = _carrier_values(item)
    differences = []
    for name, label in EDIT_FIELDS.items():
        if name == "contact":
            for key, contact_label in CONTACT_FIELDS.items():
                if (stored["contact"][key] or "") != (values["contact"][key] or "").strip():
                    differences.append(
                        (contact_label, stored["contact"][key], values["contact"][key])
                    )
        elif (stored[name] or "") != (values[name] or "").strip():
            differences.append((label, stored[name], values[name]))
    conflict = {"by": _last_editor(carrier_id), "differences": differences}
    return _render_edit(carrier, item, values, carriers_api.etag(carrier), 409, conflict=conflict)


def _last_editor(carrier_id: int) -> str | None:
    """Who made the carrier's latest change (from its audit trail)."""
    latest = (
        Change.select(Change.actor)
        .where(Change.carrier_id == carrier_id)
        .order_by(Change.id.desc())
        .first()
    )
    return latest.actor if latest else None


# --- annual reports --------------------------------------------------------------------------


def _number(text: str):
    """A number typed in a form as JSON would carry it; anything else as typed, for the
    schema to refuse."""
    text = text.strip().replace(",", "")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _report_body(form, metric_keys) -> dict:
    year = form.get("year", "").strip()
    metrics = {
        key: _number(form.get(f"metric_{key}", ""))
        for key in metric_keys
        if form.get(f"metric_{key}", "").strip()
    }
    return {"year": _number(year) if year else None, "metrics": metrics}


@bp.route("/my/carriers/<id:carrier_id>/annual-reports/new", methods=["GET", "POST"])
@signed_in(access.OPERATOR, access.BUREAU_ADMIN, access.PARTNER)
def submit_report(carrier_id: int):
    """Submit a carrier's annual report for a year (the API's submission, same checks)."""
    carrier = directory.fully_readable(carrier_id)
    access.require_report_submitter(carrier)
    metric_labels = REPORT_METRICS.get(carrier.type, {})
    item = directory.shown([carrier])[0]
    existing = list(
        AnnualReport.select()
        .where(AnnualReport.carrier == carrier.id)
        .order_by(AnnualReport.year.desc())
    )
    context = {"carrier": item, "metric_labels": metric_labels, "reports": existing}
    if request.method == "GET":
        return render("operator/report.html", values={}, errors={}, **context)
    values = {key: value for key, value in request.form.items() if key != "csrf_token"}
    data, errors = forms.validate(report_schema, _report_body(request.form, metric_labels))
    if not errors:
        try:
            report = reports.submit_report(carrier, data)
        except DomainError as error:
            errors = forms.domain_errors(error)
        else:
            flash(f"已提交 {report.year} 年度报告，等待主管部门审核。", "success")
            if g.principal.role == access.PARTNER:
                return redirect(url_for("web.my_registrations"))
            return redirect(_after_edit(carrier_id))
    return render("operator/report.html", 422, values=values, errors=errors, **context)


# --- alerts ------------------------------------------------------------------------------------


@bp.route("/my/alerts/<id:alert_id>/acknowledge", methods=["POST"])
@signed_in(access.OPERATOR, access.BUREAU_ADMIN)
def acknowledge_alert(alert_id: int):
    """Acknowledge an open alert of one's own carrier (the API's acknowledgement)."""
    alert = access.alert_scope(alerts.with_carrier(), g.principal).where(Alert.id == alert_id)
    alert = alert.first()
    if alert is None:
        raise DomainError(404, "没有这条预警。")
    access.require_alert_acknowledger(alert.carrier)
    try:
        alerts.acknowledge(alert)
    except DomainError as error:
        if error.status != 409:
            raise
        flash("这条预警已被确认或已解除。", "info")
    else:
        flash("已确认预警：它会在扫描发现情况消除后自动解除。", "success")
    return redirect(safe_next(request.form.get("back"), url_for("web.my_carriers")))
