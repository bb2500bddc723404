"""Signing in to the pages (issue 13 item 1): invitations, passwords, page sessions, CSRF,
the limits on failed sign-ins, disabling a person, and the line between the pages' session
cookie and the API's bearer tokens."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pages import TEST_PASSWORD, post_form

from registry import people
from registry.db import utcnow
from registry.models import Principal, SignInAttempt


def _sign_in(client, name, password=TEST_PASSWORD, **kwargs):
    return post_form(client, "/sign-in", {"name": name, "password": password}, **kwargs)


def test_sign_in_with_name_and_password_sets_a_strict_httponly_session_cookie(
    app, client, make_person
):
    person = make_person("bureau_viewer", name="王查阅")
    response = _sign_in(client, "王查阅")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("registry_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    account = client.get("/account")
    assert account.status_code == 200
    assert "王查阅" in account.get_data(as_text=True)
    assert account.headers["Cache-Control"] == "no-store"
    assert person.password_hash.startswith("scrypt:")


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(client, make_person):
    make_person("bureau_admin", name="李管理")
    wrong = _sign_in(client, "李管理", "not the password")
    unknown = _sign_in(client, "无此人", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "名称或密码不正确" in wrong.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_the_page_session_cookie_does_not_authenticate_the_api(page_client):
    client = page_client("bureau_admin")
    assert client.get("/account").status_code == 200
    me = client.get("/api/v1/me")
    assert me.status_code == 401
    assert me.mimetype == "application/problem+json"
    # Nor does the API ever set or refresh the cookie.
    assert "Set-Cookie" not in me.headers


def test_a_form_without_the_csrf_token_is_refused(page_client, rows):
    client = page_client("bureau_admin")
    before = rows(Principal)
    refused = client.post("/people", data={"name": "新人", "role": "bureau_viewer"})
    assert refused.status_code == 400
    assert "表单已过期" in refused.get_data(as_text=True)
    forged = client.post(
        "/people", data={"name": "新人", "role": "bureau_viewer", "csrf_token": "guess"}
    )
    assert forged.status_code == 400
    assert rows(Principal) == before
    accepted = client.form("/people", {"name": "新人", "role": "bureau_viewer"})
    assert accepted.status_code == 200
    assert rows(Principal) == before + 1


def test_admin_invites_from_the_page_and_the_link_works_once(page_client, client, app):
    admin = page_client("bureau_admin")
    page = admin.form("/people", {"name": "赵运营", "role": "bureau_viewer"})
    assert page.status_code == 200
    link = re.search(r'id="invite-link">([^<]+)<', page.get_data(as_text=True)).group(1)
    path = link.removeprefix("http://localhost")
    assert path.startswith("/invitations/cri_")
    assert "设置密码" in client.get(path).get_data(as_text=True)
    short = post_form(client, path, {"password": "short", "password_again": "short"})
    assert short.status_code == 422 and 'id="password-errors"' in short.get_data(as_text=True)
    done = post_form(client, path, {"password": TEST_PASSWORD, "password_again": TEST_PASSWORD})
    assert done.status_code == 302
    assert client.get("/account").status_code == 200  # signed in at once
    # The link worked once.
    again = app.test_client()
    assert again.get(path).status_code == 404
    reuse = post_form(
        again, path, {"password": "another password", "password_again": "another password"}
    )
    assert reuse.status_code == 404
    assert _sign_in(again, "赵运营").status_code == 302


def test_an_expired_invitation_link_is_refused(app, client, in_db):
    with in_db():
        _, token = people.invite(name="过期", role="bureau_viewer", organization_ids=[], days=3)
        Principal.update(invite_expires_at=utcnow() - dt.timedelta(seconds=1)).where(
            Principal.name == "过期"
        ).execute()
    assert client.get(f"/invitations/{token}").status_code == 404
    assert (
        post_form(
            client,
            f"/invitations/{token}",
            {"password": TEST_PASSWORD, "password_again": TEST_PASSWORD},
        ).status_code
        == 404
    )


def test_invite_names_are_unique_and_roles_need_their_organisations(page_client, org_factory):
    admin = page_client("bureau_admin")
    admin.form("/people", {"name": "钱同名", "role": "bureau_viewer"})
    twice = admin.form("/people", {"name": "钱同名", "role": "bureau_viewer"})
    assert twice.status_code == 422 and 'id="name-errors"' in twice.get_data(as_text=True)
    no_org = admin.form("/people", {"name": "孙运营", "role": "operator"})
    assert no_org.status_code == 422
    assert 'id="organizations-errors"' in no_org.get_data(as_text=True)
    org = org_factory()
    with_org = admin.form(
        "/people", {"name": "孙运营", "role": "operator", "organizations": str(org["id"])}
    )
    assert with_org.status_code == 200 and "invite-link" in with_org.get_data(as_text=True)


def test_only_the_bureau_admin_manages_people(page_client, client):
    assert client.get("/people").status_code == 302  # anonymous: to the sign-in page
    viewer = page_client("bureau_viewer")
    assert viewer.get("/people").status_code == 403
    assert viewer.form("/people", {"name": "x", "role": "bureau_viewer"}).status_code == 403


def test_disabling_a_person_ends_their_sessions_and_tokens(page_client, api, rows):
    operator_client = page_client("bureau_viewer")
    person = operator_client.person
    own = operator_client.form("/account/tokens", {"name": "报表系统"})
    assert own.status_code == 200
    token = re.search(r'id="new-token">([^<]+)<', own.get_data(as_text=True)).group(1)
    assert api.get("/api/v1/me", token=token).get_json()["name"] == person.name
    admin = page_client("bureau_admin")
    assert admin.form(f"/people/{person.id}/disable").status_code == 302
    assert operator_client.get("/account").status_code == 302  # the session ended
    refused = api.get("/api/v1/me", token=token)
    assert refused.status_code == 401
    # Nor can the person sign in again.
    assert _sign_in(operator_client, person.name).status_code == 401


def test_own_token_needs_a_name(page_client):
    client = page_client("bureau_viewer")
    refused = client.form("/account/tokens", {"name": " "}, follow_redirects=True)
    assert "请为令牌填写一个名称" in refused.get_data(as_text=True)


def test_failed_sign_ins_are_limited_per_account(app, client, make_person, in_db):
    make_person("bureau_viewer", name="周账号")
    app.config.update(SIGN_IN_MAX_FAILURES=3, SIGN_IN_MAX_ADDRESS_FAILURES=100)
    for _ in range(3):
        assert _sign_in(client, "周账号", "wrong password").status_code == 401
    locked = _sign_in(client, "周账号")  # even the right password waits now
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in locked.get_data(as_text=True)
    # Counted in the database (every worker sees it), and only while in the window.
    with in_db():
        SignInAttempt.update(failed_at=utcnow() - dt.timedelta(minutes=16)).execute()
    assert _sign_in(client, "周账号").status_code == 302


def test_failed_sign_ins_are_limited_per_address(app, client, make_person):
    make_person("bureau_viewer", name="吴甲")
    app.config.update(SIGN_IN_MAX_FAILURES=100, SIGN_IN_MAX_ADDRESS_FAILURES=3)
    for name in ("甲", "乙", "丙"):
        assert _sign_in(client, name, "guess").status_code == 401
    assert _sign_in(client, "吴甲").status_code == 429
    other_address = _sign_in(client, "吴甲", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_address.status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_sign_in_never_redirects_to_another_site(client, make_person, target):
    make_person("bureau_viewer", name="郑跳转")
    response = post_form(
        client, "/sign-in", {"name": "郑跳转", "password": TEST_PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]


def test_sign_out_ends_the_session(page_client):
    client = page_client("bureau_viewer")
    assert client.form("/sign-out").status_code == 302
    assert client.get("/account").status_code == 302


def test_registry_invite_prints_the_link_on_its_last_line(app, database_url, in_db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["invite", "--role", "bureau_viewer", "--name", "冯命令"])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/invitations/cri_[\w-]{40,}", link)
    refused = runner.invoke(args=["invite", "--role", "operator", "--name", "褚无单位"])
    assert refused.exit_code != 0
    with in_db():
        person = Principal.get(Principal.name == "冯命令")
        assert person.invite_expires_at > utcnow() + dt.timedelta(days=2)
        assert not Principal.select().where(Principal.name == "褚无单位").exists()
    app.config["PUBLIC_URL"] = "https://registry.example.gov.cn/"
    public = runner.invoke(args=["invite", "--role", "bureau_viewer", "--name", "卫公开"])
    assert (
        public.output.strip()
        .splitlines()[-1]
        .startswith("https://registry.example.gov.cn/invitations/cri_")
    )


def test_a_session_signing_key_is_made_once_and_shared(app, in_db):
    from registry.models import SiteSecret

    with in_db():
        first = people.site_secret("session")
        assert people.site_secret("session") == first
        assert SiteSecret.select().count() == 1


def test_reinviting_voids_the_old_password_and_sessions(page_client, app):
    person_client = page_client("bureau_viewer")
    person = person_client.person
    admin = page_client("bureau_admin")
    page = admin.form(f"/people/{person.id}/reinvite")
    assert page.status_code == 200
    link = re.search(r'id="invite-link">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert person_client.get("/account").status_code == 302
    fresh = app.test_client()
    assert _sign_in(fresh, person.name).status_code == 401
    path = link.removeprefix("http://localhost")
    new_password = "a brand new password"
    set_again = post_form(fresh, path, {"password": new_password, "password_again": new_password})
    assert set_again.status_code == 302
    assert _sign_in(app.test_client(), person.name, new_password).status_code == 302


def test_old_failures_are_forgotten(app, client, make_person, in_db):
    with in_db():
        SignInAttempt.create(kind="account", key="old", failed_at=utcnow() - dt.timedelta(days=1))
    assert _sign_in(client, "无此人", "guess").status_code == 401
    with in_db():
        assert [
            row.key for row in SignInAttempt.select().where(SignInAttempt.kind == "account")
        ] == ["无此人"]
