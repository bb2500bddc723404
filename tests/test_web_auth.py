"""Signing in to the pages (issue 13 item 1): invitations, passwords, page sessions, CSRF,
the limits on failed sign-ins, disabling a person, and the line between the pages' session
cookie and the API's bearer tokens."""

from __future__ import annotations

from pages import TEST_PASSWORD, post_form

from registry.models import Principal


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
    make_person("operator", [], name="x") if False else None
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
