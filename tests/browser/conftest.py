"""Browser tests (issue 13): Debian's chromium driven by Playwright against a live server.

* The server is the app itself, served by werkzeug in a thread on 127.0.0.1 (a free port
  of :data:`PORTS`), on one database per test module (SQLite file, or the PostgreSQL test
  database). The module's ``app`` and ``database_url`` fixtures replace the per-test ones
  of ``tests/conftest.py``, so the usual factories (``api``, ``make_token``,
  ``carrier_factory``, ``make_person`` …) write to the very database the browser reads.
  Tests of one module share that database: each builds its own rows.
* The browser is the system's ``chromium`` (``apt-get install chromium``), never one
  Playwright downloads; without it every browser test is skipped, saying so.
* ``sign_in(page, role, org_ids=())`` signs a page in as a new person at once (a session
  cookie made the way the app makes it); ``sign_in_with_form`` goes through the form.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from pages import TEST_PASSWORD, session_cookie, truncate_postgres
from servers import free_port
from werkzeug.serving import make_server

from registry import create_app, db

PG_URL = os.environ.get("REGISTRY_TEST_DATABASE_URL")
#: This suite's ports (tests/servers.py picks a free one at random).
PORTS = range(19500, 19600)
CHROMIUM = shutil.which("chromium")
#: How long a page action or assertion waits (ms): pages answer in milliseconds; the margin
#: is for two cores shared with the other suite in CI.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def database_url(template_db, tmp_path_factory) -> str:
    """One database for the module's server and its tests."""
    if PG_URL:
        return PG_URL
    path = tmp_path_factory.mktemp("browser") / "registry.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def app(database_url):
    """The served app (module-wide), its database holding the default policies."""
    from fixtures import loader

    app = create_app(
        {"DATABASE_URL": database_url, "TESTING": True, "SCHEDULER": False, "LOG_LEVEL": "WARNING"}
    )
    with app.app_context(), db.database.connection_context():
        if PG_URL:
            truncate_postgres(db.database.obj)
        loader.load_policies()
    yield app
    if not db.database.is_closed():
        db.database.close()


@pytest.fixture(scope="module")
def live_server(app) -> str:
    """The base URL of ``app`` served by werkzeug in a thread (stopped at the module's end)."""
    port = free_port(PORTS)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, driven by Playwright (skipped when not installed)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser, live_server):
    """A fresh browser profile (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def new_page(browser, live_server):
    """``new_page()``: a page in another fresh profile (a second person, side by side)."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(app, live_server, make_person):
    """``sign_in(page, role, org_ids=(), name=None)``: sign ``page``'s profile in as a new
    person of ``role`` at once (a session cookie), and return the person."""

    def run(page, role: str, org_ids=(), name: str | None = None):
        person = make_person(role, org_ids, name)
        page.context.add_cookies(
            [
                {
                    "name": app.config["SESSION_COOKIE_NAME"],
                    "value": session_cookie(app, person),
                    "url": live_server,
                    "httpOnly": True,
                    "sameSite": "Strict",
                }
            ]
        )
        return person

    return run


def sign_in_with_form(page, name: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the sign-in form, as a person does."""
    page.goto("/sign-in")
    page.get_by_label("姓名").fill(name)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
