"""The basics of accessibility on the sign-in, account, operator, partner and review pages,
checked in the browser (issue 13, "must show"): every visible form control has a label,
headings start at one h1 and never skip a level, the page says it is Chinese, and nothing
is loaded from another host."""

from __future__ import annotations

import pytest

from registry import uscc

#: Run in the page: what it breaks of the rules above.
CHECKS = """() => {
  const problems = [];
  const lang = document.documentElement.lang;
  if (lang !== 'zh-CN') problems.push('lang ' + lang);
  const controls = document.querySelectorAll('input, select, textarea');
  for (const control of controls) {
    if (control.type === 'hidden' || control.hidden || control.offsetParent === null) continue;
    const named = (control.labels && control.labels.length) || control.getAttribute('aria-label')
      || control.getAttribute('aria-labelledby');
    if (!named) problems.push('no label: ' + (control.name || control.id));
  }
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
  if (levels.filter(level => level === 1).length !== 1) problems.push('h1 count ' + levels);
  let previous = 0;
  for (const level of levels) {
    if (level > previous + 1) problems.push('heading jumps to h' + level + ' after h' + previous);
    previous = level;
  }
  for (const link of document.querySelectorAll('button, a')) {
    const name = link.textContent.trim() || link.getAttribute('aria-label');
    if (!name) problems.push('unnamed ' + link.outerHTML);
  }
  return problems;
}"""


@pytest.fixture
def registered(org_factory, carrier_factory, accredit, make_token, api):
    """An operator's organisation with an accredited carrier, and a partner's registration."""
    org = org_factory(name="无障碍测试企业")
    carrier = carrier_factory(host_organization_id=org["id"], name="无障碍技能大师工作室")
    accredit(carrier["id"], "2020-01-10")
    school = org_factory(name="无障碍职业学院", kind="university")
    partner = make_token("partner", [school["id"]])
    code = "91330282000000088" + uscc.check_character("91330282000000088")
    body = {
        "name": "无障碍实习实践基地",
        "level": "county",
        "host_organization_id": school["id"],
        "partners": [{"uscc": code, "name": "无障碍电器", "role": "enterprise"}],
        "contact": {"name": "陈老师", "phone": "13900000002"},
    }
    registration = api.post("/api/v1/registrations", json=body, token=partner).get_json()
    return {"org": org, "carrier": carrier, "school": school, "registration": registration}


def _check(page, path: str) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(path)
    assert response.status == 200, path
    assert page.evaluate(CHECKS) == [], path
    base = page.url.split("/", 3)[:3]
    assert all(url.split("/", 3)[:3] == base for url in requests), requests


def test_pages_have_labels_ordered_headings_and_only_local_assets(
    page, new_page, sign_in, registered
):
    _check(page, "/sign-in")
    sign_in(page, "operator", [registered["org"]["id"]])
    carrier = registered["carrier"]["id"]
    for path in (
        "/account",
        "/my/carriers",
        f"/my/carriers/{carrier}/edit",
        f"/my/carriers/{carrier}/annual-reports/new",
    ):
        _check(page, path)
    partner = new_page()
    sign_in(partner, "partner", [registered["school"]["id"]])
    registration = registered["registration"]["id"]
    for path in (
        "/my/registrations",
        "/my/registrations/new",
        f"/my/registrations/{registration}/edit",
    ):
        _check(partner, path)
    admin = new_page()
    sign_in(admin, "bureau_admin")
    for path in ("/people", "/review", f"/review/{registration}"):
        _check(admin, path)
