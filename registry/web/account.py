"""Signing in and out, invitations, a person's own API tokens, and the bureau admin's page
of people (issue 13 item 1)."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, request, url_for

from registry import access, people, tokens
from registry.errors import DomainError
from registry.models import Token
from registry.web.pages import (
    bp,
    error_page,
    home_for,
    render,
    safe_next,
    sign_in_session,
    sign_out_session,
    signed_in,
)


def invitation_url(token: str, base: str | None = None) -> str:
    """The one-time link of an invitation: on ``base`` (the configured public address, or
    the address of the request)."""
    base = base or current_app.config["PUBLIC_URL"] or request.host_url
    return base.rstrip("/") + url_for("web.accept_invitation", token=token)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Sign in with name and password."""
    target = safe_next(request.values.get("next"), "")
    if request.method == "GET":
        if g.principal is not None:
            return redirect(target or home_for(g.principal))
        return render("account/sign_in.html", next=target, name="")
    name = request.form.get("name", "").strip()
    try:
        person = people.sign_in(name, request.form.get("password", ""), request.remote_addr)
    except people.SignInRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else {}
        body, status = render(
            "account/sign_in.html", refused.status, next=target, name=name, error=refused.message
        )
        return body, status, headers
    sign_in_session(person)
    return redirect(target or home_for(person))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    """Sign out (a form with the CSRF token, never a plain link)."""
    sign_out_session()
    flash("已退出登录。", "info")
    return redirect(url_for("web.sign_in"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """Set a password with a one-time invitation link."""
    person = people.invited(token)
    if person is None:
        return error_page(404, "邀请链接无效、已使用或已过期，请联系主管部门重新邀请。")
    if request.method == "GET":
        return render("account/set_password.html", person=person, errors={})
    password = request.form.get("password", "")
    errors = people.check_new_password(password, request.form.get("password_again", ""))
    if errors:
        return render("account/set_password.html", 422, person=person, errors=errors)
    person = people.set_password(token, password)
    sign_in_session(person)
    flash("密码已设置，欢迎使用。", "success")
    return redirect(home_for(person))


@bp.route("/account")
@signed_in()
def account():
    """The signed-in person: who they are and their API tokens."""
    return render("account/account.html", tokens=_own_tokens())


@bp.route("/account/tokens", methods=["POST"])
@signed_in()
def issue_own_token():
    """Issue an API token for oneself, shown once."""
    name = request.form.get("name", "").strip()
    try:
        _, token = tokens.add_token(g.principal.id, name=name, actor=g.principal.name)
    except tokens.TokenError as error:
        flash(_TOKEN_NAME_MISSING if "name" in (error.errors or {}) else error.message, "error")
        return redirect(url_for("web.account"))
    return render(
        "account/account.html",
        tokens=_own_tokens(),
        new_token=token,
    )


_TOKEN_NAME_MISSING = "请为令牌填写一个名称（例如用途）。"


def _own_tokens() -> list[dict]:
    own = tokens.with_principal().where(Token.principal == g.principal.id).order_by(Token.id.desc())
    return [tokens.token_as_dict(row) for row in own]


# --- the bureau admin's page of people -----------------------------------------------------


@bp.route("/people")
@signed_in(access.BUREAU_ADMIN)
def people_list():
    """The people who sign in: invite, re-invite, disable."""
    return _people_page()


def _people_page(status: int = 200, **context):
    from registry.models import Organization

    organizations = Organization.select(Organization.id, Organization.name).order_by(
        Organization.name
    )
    names = {org.id: org.name for org in organizations}
    return render(
        "account/people.html",
        status,
        people=list(people.people()),
        organizations=names,
        form=context.pop("form", {}),
        errors=context.pop("errors", {}),
        **context,
    )


@bp.route("/people", methods=["POST"])
@signed_in(access.BUREAU_ADMIN)
def invite_person():
    """Invite a person: the one-time link is shown once, to pass on."""
    form = {
        "name": request.form.get("name", "").strip(),
        "role": request.form.get("role", ""),
        "organizations": request.form.getlist("organizations"),
    }
    try:
        organization_ids = [int(value) for value in form["organizations"] if value]
    except ValueError:
        organization_ids = []
    try:
        person, token = people.invite(
            name=form["name"], role=form["role"], organization_ids=organization_ids
        )
    except DomainError as error:
        errors = {
            field: [_INVITE_MESSAGES.get(field, text) for text in texts]
            for field, texts in (error.errors or {}).items()
        }
        for field, texts in (error.errors or {}).items():
            if field == "name" and not texts[0].isascii():
                errors[field] = texts
        return _people_page(422, form=form, errors=errors)
    return _people_page(invited=person, link=invitation_url(token))


_INVITE_MESSAGES = {
    "name": "请填写姓名（登录时使用，不能与他人重复）。",
    "role": "请选择角色。",
    "organizations": "运营单位与合作单位须选择所属单位；主管部门人员不选单位。",
}


@bp.route("/people/<id:principal_id>/reinvite", methods=["POST"])
@signed_in(access.BUREAU_ADMIN)
def reinvite_person(principal_id: int):
    """A new invitation link (the old password stops working)."""
    person, token = people.reinvite(principal_id)
    return _people_page(invited=person, link=invitation_url(token))


@bp.route("/people/<id:principal_id>/disable", methods=["POST"])
@signed_in(access.BUREAU_ADMIN)
def disable_person(principal_id: int):
    """Disable a person: sessions, tokens and feed key stop working at once."""
    person = people.disable(principal_id)
    flash(f"已停用 {person.name}：其登录会话与 API 令牌均已失效。", "success")
    return redirect(url_for("web.people_list"))
