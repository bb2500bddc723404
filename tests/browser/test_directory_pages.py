"""The public directory, the carrier pages and the bureau's dashboard in a real chromium
(issue 13 #0, #2, #3): filtering and searching as a citizen does, the dashboard as the bureau
sees it, the screenshots of the README (``docs/screenshots``), and the accessibility check
of every one of these pages.

The module serves the demo data (``registry load-fixtures``: 28 accredited carriers, their
histories, reports, targets and alerts, and a recorded scan), loaded once for the module in
about two seconds: the screenshots show what a new installation shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import a11y
import pytest
from playwright.sync_api import expect

from registry import clock, db

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def demo(app) -> dict:
    """The demo data in the served database, scanned today as a recorded run."""
    from fixtures import loader
    from jobs import catalog, runs
    from registry.models import Carrier, Milestone

    with app.test_request_context(), db.database.connection_context():
        loader.load_demo(clock.today())
        runs.execute(catalog.get("scan"), trigger="manual", actor="tests")
        promoted = (
            Carrier.select()
            .join(Milestone)
            .where((Milestone.kind == "level_changed") & (Carrier.status == "accredited"))
            .order_by(Carrier.id)
            .first()
        )
        other = (
            Carrier.select()
            .where(
                (Carrier.status == "accredited")
                & (Carrier.host_organization != promoted.host_organization)
                & Carrier.lead_person.is_null(False)
            )
            .order_by(Carrier.id)
            .first()
        )
        return {
            "promoted": promoted.id,
            "promoted_name": promoted.name,
            "promoted_org": promoted.host_organization_id,
            "other": other.id,
            "other_lead_person": other.lead_person,
        }


def screenshot(page, name: str, full_page: bool = True) -> None:
    """Save the page as ``docs/screenshots/<name>.png`` (shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_a_citizen_filters_searches_and_opens_a_carrier(page, demo):
    page.set_viewport_size(VIEWPORT)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("人才载体名录")
    screenshot(page, "public-directory")
    cards = page.locator(".carrier-card")
    everyone = cards.count()
    assert everyone > 0

    page.get_by_label("类型").select_option(label="技能大师工作室")
    page.get_by_role("button", name="查找").click()
    expect(page).to_have_url(re.compile(r"type=skill_master_studio"))
    studios = cards.count()
    assert 0 < studios < everyone
    for meta in cards.locator(".meta").all_text_contents():
        assert "技能大师工作室" in meta

    page.get_by_label("搜索（名称、依托单位、拼音）").fill("汽车")
    page.get_by_role("button", name="查找").click()
    expect(page).to_have_url(re.compile(r"q=%E6%B1%BD%E8%BD%A6"))  # 汽车, the type kept
    expect(page).to_have_url(re.compile(r"type=skill_master_studio"))
    found = cards.locator("h3 a")
    assert 0 < found.count() < studios
    name = found.first.text_content()
    assert "汽车" in name

    found.first.click()
    expect(page).to_have_url(re.compile(r"/directory/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text("此处显示向社会公开的信息。")).to_be_visible()
    expect(page.get_by_text("联系电话")).to_have_count(0)


def test_the_bureau_lands_on_its_dashboard(page, sign_in, demo):
    page.set_viewport_size(VIEWPORT)
    sign_in(page, "bureau_viewer", name="局里查阅员")
    page.goto("/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("工作台")
    chart = page.get_by_role("img", name=re.compile("各类载体数量"))
    expect(chart).to_be_visible()
    table = page.locator("#carrier-counts-table")
    expect(table.locator("tfoot")).to_contain_text("合计")
    bars = page.get_by_role("progressbar")
    assert bars.count() == page.locator(".target").count() > 0
    for index in range(bars.count()):
        assert 0 <= float(bars.nth(index).get_attribute("aria-valuenow")) <= 100
    expect(page.locator("#last-scan")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    screenshot(page, "dashboard")

    # A row of the table opens the carrier list filtered by that type.
    table.get_by_role("link", name="技能大师工作室").click()
    expect(page).to_have_url(re.compile(r"/carriers\?type=skill_master_studio"))
    expect(page.get_by_label("类型")).to_have_value("skill_master_studio")


def test_the_carrier_page_shows_its_timeline(page, sign_in, demo):
    page.set_viewport_size(VIEWPORT)
    sign_in(page, "bureau_admin", name="局里管理员")
    page.goto(f"/carriers/{demo['promoted']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(demo["promoted_name"])
    moves = page.locator("ol.timeline .level-move")
    assert moves.count() >= 1
    expect(moves.first).to_contain_text("→")
    for heading in ("认定历程", "年度报告", "预警", "变更记录"):
        expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 1500})
    screenshot(page, "carrier-page", full_page=False)


def test_an_operator_sees_only_the_public_fields_of_another_organisations_carrier(
    page, sign_in, demo
):
    sign_in(page, "operator", [demo["promoted_org"]], name="载体运营者")
    page.goto(f"/carriers/{demo['other']}")
    expect(page.get_by_text("此处显示向社会公开的信息。")).to_be_visible()
    expect(page.get_by_text(demo["other_lead_person"])).to_have_count(0)
    expect(page.get_by_role("heading", name="变更记录")).to_have_count(0)
    page.goto(f"/carriers/{demo['promoted']}")
    expect(page.get_by_role("heading", name="变更记录")).to_be_visible()


def test_every_directory_page_passes_the_accessibility_check(
    browser, live_server, app, make_person, demo
):
    """axe-core and our own checks on each page this module builds, as the public, the bureau
    and an operator see them."""
    from pages import session_cookie

    def context_for(role: str | None, org_ids=()):
        context = browser.new_context(base_url=live_server, locale="zh-CN", viewport=VIEWPORT)
        a11y.prepare(context)
        if role is not None:
            cookie = session_cookie(app, make_person(role, org_ids, f"无障碍检查-{role}"))
            name = app.config["SESSION_COOKIE_NAME"]
            context.add_cookies([{"name": name, "value": cookie, "url": live_server}])
        return context

    visits = {
        None: ["/", "/?type=castle", f"/directory/{demo['promoted']}"],
        "bureau_admin": [
            "/dashboard",
            "/carriers",
            "/carriers?status=accredited&sort=-level&page=2&page_size=5",
            f"/carriers/{demo['promoted']}",
            "/feed-key",
        ],
        "operator": [f"/carriers/{demo['other']}", f"/carriers/{demo['promoted']}"],
    }
    found = {}
    for role, paths in visits.items():
        context = context_for(role, [demo["promoted_org"]] if role == "operator" else ())
        page = context.new_page()
        for path in paths:
            response = page.goto(path)
            assert response.status in (200, 400), path
            problems = a11y.problems(page)
            if problems:
                found[f"{role or 'public'} {path}"] = problems
        context.close()
    assert not found, found


def test_the_accessibility_check_finds_what_it_looks_for(context):
    """The check is not vacuous: a page breaking each rule fails it, naming the rule."""
    a11y.prepare(context)
    page = context.new_page()
    page.set_content(
        """<!doctype html><html lang="zh-CN"><head><title>坏页面</title></head><body><main>
        <h1>标题</h1><h3>跳级的标题</h3>
        <input name="q">
        <p style="color:#aaaaaa">浅灰色的字</p>
        <div role="progressbar" aria-label="进度" aria-valuenow="50" aria-valuemin="0"
             aria-valuemax="100"><svg viewBox="0 0 100 12" width="200" height="12">
          <rect class="progress-track" width="100" height="12" style="fill:#e8e8e8"/>
          <rect class="progress-fill" width="50" height="12" style="fill:#d0d0d0"/></svg></div>
        </main></body></html>"""
    )
    found = "\n".join(a11y.problems(page))
    assert "heading skips h1→h3" in found
    assert "no label: input[name=q]" in found
    assert "text contrast" in found and "浅灰色的字" in found
    assert "progress fill/track contrast" in found
    assert "axe label" in found and "axe color-contrast" in found
