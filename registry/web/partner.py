"""Partner pages and the bureau's review queue (issue 13 item 5).

A partner registers a joint training base, sees its registrations and edits one until the
bureau reviews it; the bureau admin approves or rejects from the queue, with the reason.
Each form is loaded with the API's own schema (``schemas.registrations``) and written by the
API's own domain functions (``registry.registrations``), under the same access rules.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from registry import access, carriers, clock, registrations
from registry.api.registrations import blp as registrations_api
from registry.errors import DomainError
from registry.models import Carrier, Organization
from registry.places import towns
from registry.vocabulary import LEVELS, ORGANIZATION_KINDS, PARTNER_ROLES
from registry.web import forms
from registry.web.pages import bp, render, signed_in
from schemas.common import update_schema
from schemas.registrations import ApprovalSchema, RegistrationSchema, RejectionSchema

#: Labels of the fields inside the form's nested messages (partners, contact).
INNER_LABELS = {
    "organization_id": "本单位",
    "uscc": "统一社会信用代码",
    "name": "名称",
    "kind": "类型",
    "role": "合作角色",
    "phone": "联系电话",
    "email": "电子邮箱",
}
#: Partner rows on the registration form.
PARTNER_ROWS = 3
CONTACT_FIELDS = ("name", "phone", "email")
STALE_REGISTRATION = (
    "保存失败：这条备案在您打开本页后已被他人修改。请重新打开编辑页，核对最新内容后再修改。"
)
registration_schema = RegistrationSchema()
registration_update_schema = update_schema(RegistrationSchema)
approval_schema = ApprovalSchema()
rejection_schema = RejectionSchema()


def _visible():
    """The registrations the person may read (the API's scope: ``access``)."""
    return access.registration_scope(carriers.with_host(), g.principal)


def _registration(registration_id: int) -> Carrier:
    found = _visible().where(Carrier.id == registration_id).first()
    if found is None:
        raise DomainError(404, "没有这条备案。")
    return found


# --- the form ------------------------------------------------------------------------------


def _registration_body(form, *, editing: bool) -> dict:
    """The JSON body an API client would send for the registration form."""
    nullable = ("town", "description") if editing else ()
    data = forms.form_data(form, ["name", "level", "town", "description"], nullable=nullable)
    data.setdefault("name", "")
    host = form.get("host", "")
    if host == "other":
        data.update(forms.form_data(form, ["host_uscc", "host_name", "host_kind"]))
        data.setdefault("host_uscc", "")
    elif host.isdigit():
        data["host_organization_id"] = int(host)
    partners = []
    for row in range(PARTNER_ROWS):
        org = form.get(f"partner_{row}_org", "")
        role = form.get(f"partner_{row}_role", "") or "other"
        typed = forms.form_data(form, [f"partner_{row}_uscc", f"partner_{row}_name"])
        if org.isdigit():
            partners.append({"organization_id": int(org), "role": role})
        elif typed:
            partners.append(
                {
                    "uscc": typed.get(f"partner_{row}_uscc", ""),
                    "name": typed.get(f"partner_{row}_name", ""),
                    "role": role,
                }
            )
    data["partners"] = partners
    data["contact"] = {
        name: form.get(f"contact_{name}", "").strip() or None for name in CONTACT_FIELDS
    }
    return data


def _values_of(item: dict, own: set[int]) -> dict:
    """A registration as its form shows it."""
    host_id = item.get("host_organization_id")
    values = {
        "name": item["name"],
        "level": item["level"],
        "town": item.get("town") or "",
        "description": item.get("description") or "",
        "host": str(host_id) if host_id in own else "other",
        "host_uscc": "" if host_id in own else (item.get("host_uscc") or ""),
        "host_name": "" if host_id in own else (item.get("host_name") or ""),
    }
    for row, partner in enumerate((item.get("partners") or [])[:PARTNER_ROWS]):
        org = partner.get("organization_id")
        values[f"partner_{row}_org"] = str(org) if org in own else ""
        values[f"partner_{row}_uscc"] = "" if org in own else (partner.get("uscc") or "")
        values[f"partner_{row}_name"] = "" if org in own else (partner.get("name") or "")
        values[f"partner_{row}_role"] = partner.get("role") or "other"
    for name in CONTACT_FIELDS:
        values[f"contact_{name}"] = (item.get("contact") or {}).get(name) or ""
    return values


def _form_page(template_values: dict, errors: dict, status: int = 200, **context):
    forms.name_inner_fields(errors, "partners", INNER_LABELS, "合作单位")
    forms.name_inner_fields(errors, "contact", INNER_LABELS)
    own = sorted(access.organisations_of(g.principal))
    names = dict(
        Organization.select(Organization.id, Organization.name)
        .where(Organization.id.in_(own))
        .tuples()
    )
    return render(
        "partner/registration_form.html",
        status,
        values=template_values,
        errors=errors,
        own_organizations=[(str(org), names.get(org, org)) for org in own],
        level_options=[(level, level) for level in LEVELS],
        town_options=[(town, town) for town in towns()],
        role_options=list(PARTNER_ROLES.items()),
        kind_options=list(ORGANIZATION_KINDS.items()),
        partner_rows=range(PARTNER_ROWS),
        **context,
    )


# --- a partner's registrations ----------------------------------------------------------------


@bp.route("/my/registrations")
@signed_in(access.PARTNER)
def my_registrations():
    """A partner's registrations: awaiting review, approved, rejected (with the reason)."""
    rows = list(_visible().order_by(Carrier.created_at.desc()))
    own = access.organisations_of(g.principal)
    items = registrations.present(rows)
    editable = {
        row.id for row in rows if row.status == "submitted" and row.submitted_by_organization in own
    }
    return render("partner/my_registrations.html", registrations=items, editable=editable)


@bp.route("/my/registrations/new", methods=["GET", "POST"])
@signed_in(access.PARTNER, access.BUREAU_ADMIN)
def new_registration():
    """Register a joint training base for review."""
    if request.method == "GET":
        return _form_page({"level": "county", "host": ""}, {}, registration=None)
    values = dict(request.form)
    data, errors = forms.validate(
        registration_schema, _registration_body(request.form, editing=False)
    )
    if not errors:
        try:
            access.require_registrant()
            carrier = registrations.submit(data, g.principal)
        except DomainError as error:
            errors = forms.domain_errors(error)
        else:
            flash(f"已提交“{carrier.name}”的备案，等待主管部门审核。", "success")
            return redirect(url_for("web.my_registrations"))
    return _form_page(values, errors, 422, registration=None)


@bp.route("/my/registrations/<id:registration_id>/edit", methods=["GET", "POST"])
@signed_in(access.PARTNER, access.BUREAU_ADMIN)
def edit_registration(registration_id: int):
    """Edit a registration until it is reviewed (guarded by the version the form was read at)."""
    carrier = _registration(registration_id)
    access.require_registration_editor(carrier)
    if carrier.status != "submitted":
        flash("这条备案已审核，不能再修改。", "warning")
        return redirect(url_for("web.my_registrations"))
    item = registrations.present([carrier])[0]
    if request.method == "GET":
        values = _values_of(item, access.organisations_of(g.principal))
        return _form_page(values, {}, registration=item, etag=registrations_api.etag(carrier))
    values = dict(request.form)
    sent_etag = request.form.get("etag", "")
    body = _registration_body(request.form, editing=True)
    data, errors = forms.validate(registration_update_schema, body)
    if not errors:
        expected = registrations_api.versions_named([sent_etag], registration_id)
        try:
            registrations.edit(registration_id, data, g.principal, expected)
        except DomainError as error:
            if error.status != 412:
                errors = forms.domain_errors(error)
            else:
                errors = {
                    "_body": [
                        "保存失败：这条备案在您打开本页后已被他人修改。请重新打开编辑页，核对最新内容后再修改。"
                    ]
                }
                return _form_page(values, errors, 409, registration=item, etag=sent_etag)
        else:
            flash("已保存备案的修改。", "success")
            return redirect(url_for("web.my_registrations"))
    return _form_page(values, errors, 422, registration=item, etag=sent_etag)


# --- the bureau's review queue ------------------------------------------------------------------


@bp.route("/review")
@signed_in(access.BUREAU_ADMIN, access.BUREAU_VIEWER)
def review_queue():
    """Registrations awaiting review, oldest first, and the latest reviewed."""
    waiting = list(_visible().where(Carrier.status == "submitted").order_by(Carrier.created_at))
    reviewed = list(
        _visible()
        .where(Carrier.status != "submitted")
        .order_by(Carrier.reviewed_at.desc(nulls="LAST"))
        .limit(20)
    )
    return render(
        "partner/review_queue.html",
        waiting=registrations.present(waiting),
        reviewed=registrations.present(reviewed),
        today=clock.today().isoformat(),
        errors=request.args.get("errors"),
    )


@bp.route("/review/<id:registration_id>", methods=["GET"])
@signed_in(access.BUREAU_ADMIN, access.BUREAU_VIEWER)
def review_registration(registration_id: int, errors: dict | None = None, status: int = 200):
    """One registration with the approve and reject forms."""
    carrier = _registration(registration_id)
    return render(
        "partner/review.html",
        status,
        registration=registrations.present([carrier])[0],
        errors=errors or {},
        values=request.form if request.method == "POST" else {},
        today=clock.today().isoformat(),
        level_options=[(level, level) for level in LEVELS],
    )


@bp.route("/review/<id:registration_id>/approve", methods=["POST"])
@signed_in(access.BUREAU_ADMIN)
def approve_registration(registration_id: int):
    """Approve a registration as applying or accredited (the API's approval)."""
    carrier = _registration(registration_id)
    body = forms.form_data(
        request.form, ["status", "occurred_on", "level", "certificate_no", "valid_until", "comment"]
    )
    if body.get("status") == "applying":
        for name in ("level", "certificate_no", "valid_until"):
            body.pop(name, None)
    decision, errors = forms.validate(approval_schema, body)
    if not errors:
        decision.setdefault("occurred_on", clock.today())
        try:
            registrations.approve(carrier, decision)
        except DomainError as error:
            errors = forms.domain_errors(error)
        else:
            flash(f"已通过“{carrier.name}”的备案。", "success")
            return redirect(url_for("web.review_queue"))
    return review_registration(registration_id, errors=errors, status=422)


@bp.route("/review/<id:registration_id>/reject", methods=["POST"])
@signed_in(access.BUREAU_ADMIN)
def reject_registration(registration_id: int):
    """Reject a registration with the reason its partner reads."""
    carrier = _registration(registration_id)
    data, errors = forms.validate(rejection_schema, {"reason": request.form.get("reason", "")})
    if not errors:
        try:
            registrations.reject(carrier, data["reason"].strip())
        except DomainError as error:
            errors = forms.domain_errors(error)
        else:
            flash(f"已退回“{carrier.name}”的备案。", "success")
            return redirect(url_for("web.review_queue"))
    return review_registration(registration_id, errors=errors, status=422)
