"""The directory pages and the dashboard (issue 13 #0, #2, #3), through the Flask test client:
each page shows what the API answers the same person, and never a field the API hides."""

from __future__ import annotations

import csv
import io
import re

import pytest

PUBLIC_DIRECTORY = "/"

#: Non-public values of the other organisation's carrier: no page may show them to an
#: operator of another organisation (nor to the public).
SECRETS = ("乙负责人秘密", "13900000002", "secret-b@example.cn", "B-SECRET-7", "乙联系人")


@pytest.fixture
def world(api, admin, org_factory, carrier_factory, accredit, record):
    """Two organisations: A (the operator's) with an accredited county studio, B with an
    accredited postdoc workstation promoted to national (hidden fields filled in) and a
    carrier still applying."""
    org_a = org_factory(name="甲公司")
    org_b = org_factory(name="乙公司")
    own = carrier_factory(
        name="甲技能大师工作室",
        host_organization_id=org_a["id"],
        town="浒山街道",
        lead_person="甲负责人",
    )
    other = carrier_factory(
        name="乙博士后工作站",
        type="postdoc_workstation",
        level="provincial",
        host_organization_id=org_b["id"],
        town="古塘街道",
        lead_person="乙负责人秘密",
        contact={"name": "乙联系人", "phone": "13900000002", "email": "secret-b@example.cn"},
        attributes={"内部编号": "B-SECRET-7"},
    )
    applying = carrier_factory(name="乙申报中工作室", host_organization_id=org_b["id"])
    accredit(own["id"], "2020-03-01", certificate_no="JA-1")
    accredit(other["id"], "2019-05-01", certificate_no="YB-1")
    assert record(other["id"], "level_changed", "2022-07-01", level="national").status_code == 201
    return {"org_a": org_a, "org_b": org_b, "own": own, "other": other, "applying": applying}


def text_of(response) -> str:
    return response.get_data(as_text=True)


def carrier_links(html: str, prefix: str) -> list[int]:
    """The carrier ids a page links to (in page order)."""
    return [int(found) for found in re.findall(rf'href="{prefix}(\d+)"', html)]


# --- the public directory ------------------------------------------------------------------


def test_the_public_directory_lists_accredited_carriers_with_public_fields_only(client, world):
    response = client.get(PUBLIC_DIRECTORY)
    assert response.status_code == 200
    html = text_of(response)
    assert '<html lang="zh-CN">' in html
    assert "甲技能大师工作室" in html and "乙博士后工作站" in html
    assert "乙申报中工作室" not in html  # applying: not in the public directory
    for secret in SECRETS:
        assert secret not in html
    assert sorted(carrier_links(html, "/directory/")) == sorted(
        [world["own"]["id"], world["other"]["id"]]
    )


def test_the_public_directory_filters_and_searches_as_the_api_does(client, api, world):
    for query in ("type=postdoc_workstation", "level=national", "town=浒山街道", "q=博士后"):
        page = carrier_links(text_of(client.get(f"/?{query}")), "/directory/")
        listed = [item["id"] for item in api.get(f"/api/v1/carriers?{query}").get_json()]
        assert page == listed and len(listed) == 1, query
    # An empty field of the form is no filter.
    assert len(carrier_links(text_of(client.get("/?type=&q=")), "/directory/")) == 2


def test_the_public_directory_reads_as_nobody_even_when_signed_in(page_client, world):
    client = page_client("bureau_admin")
    html = text_of(client.get(PUBLIC_DIRECTORY))
    assert "乙申报中工作室" not in html
    for secret in SECRETS:
        assert secret not in html


def test_a_bad_filter_is_a_400_page_naming_it_not_a_500(client, world):
    response = client.get("/?type=castle&level=national")
    assert response.status_code == 400
    html = text_of(response)
    assert 'aria-invalid="true"' in html and "castle" in html
    # The valid filter still applies.
    assert carrier_links(html, "/directory/") == [world["other"]["id"]]


def test_pages_of_the_public_directory_keep_the_filters(client, carrier_factory, accredit):
    for number in range(3):
        carrier = carrier_factory(name=f"翻页工作室{number}")
        accredit(carrier["id"], "2021-01-01")
    html = text_of(client.get("/?q=翻页&page_size=2"))
    assert len(carrier_links(html, "/directory/")) == 2
    assert 'rel="next"' in html
    next_link = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "q=" in next_link and "page_size=2" in next_link and "page=2" in next_link
    assert len(carrier_links(text_of(client.get(next_link)), "/directory/")) == 1


def test_a_public_carrier_page_shows_its_public_fields(client, world):
    html = text_of(client.get(f"/directory/{world['other']['id']}"))
    assert "乙博士后工作站" in html and "乙公司" in html and "YB-1" in html
    for secret in SECRETS:
        assert secret not in html
    assert "认定历程" not in html  # milestones are not public


def test_a_carrier_outside_the_public_directory_has_no_public_page(client, world):
    assert client.get(f"/directory/{world['applying']['id']}").status_code == 404
    assert client.get("/directory/999999").status_code == 404


# --- signed in: the list and the carrier page ------------------------------------------------


def test_an_operator_never_sees_another_organisations_non_public_fields(page_client, world):
    operator = page_client("operator", [world["org_a"]["id"]])
    other = operator.get(f"/carriers/{world['other']['id']}")
    assert other.status_code == 200
    html = text_of(other)
    assert "乙博士后工作站" in html and "YB-1" in html
    for secret in SECRETS:
        assert secret not in html
    assert "变更记录" not in html and "年度报告" not in html
    listing = text_of(operator.get("/carriers"))
    assert "乙博士后工作站" in listing
    for secret in SECRETS:
        assert secret not in listing
    # Its own carrier, fully: the hidden fields, the timeline, the history.
    own = text_of(operator.get(f"/carriers/{world['own']['id']}"))
    assert "甲负责人" in own and "认定历程" in own and "变更记录" in own
    # A carrier it may not see at all is a 404, as in the API.
    assert operator.get(f"/carriers/{world['applying']['id']}").status_code == 404


def test_the_list_shows_each_person_what_the_api_shows_them(
    page_client, api, make_token, admin, world
):
    operator = page_client("operator", [world["org_a"]["id"]])
    token = make_token("operator", [world["org_a"]["id"]])
    for query in ("", "sort=-level", "type=skill_master_studio", "status=accredited&page_size=1"):
        page = carrier_links(text_of(operator.get(f"/carriers?{query}")), "/carriers/")
        listed = [
            item["id"] for item in api.get(f"/api/v1/carriers?{query}", token=token).get_json()
        ]
        assert page == listed, query
    bureau = page_client("bureau_viewer")
    page = carrier_links(text_of(bureau.get("/carriers?sort=name")), "/carriers/")
    listed = [item["id"] for item in api.get("/api/v1/carriers?sort=name", token=admin).get_json()]
    assert page == listed and world["applying"]["id"] in page


def test_a_hidden_filter_is_refused_to_an_operator_as_the_api_refuses_it(page_client, world):
    operator = page_client("operator", [world["org_a"]["id"]])
    response = operator.get("/carriers?evaluation_due_before=2030-01-01")
    assert response.status_code == 400
    html = text_of(response)
    alert = html.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert "next_evaluation_on" in alert and re.search(r"[\u4e00-\u9fff]", alert)  # Chinese
    assert carrier_links(html, "/carriers/") == []
    # The form does not even offer it.
    assert 'name="evaluation_due_before"' not in text_of(operator.get("/carriers"))
    bureau = page_client("bureau_viewer")
    assert 'name="evaluation_due_before"' in text_of(bureau.get("/carriers"))


def test_the_list_needs_a_sign_in(client):
    response = client.get("/carriers?type=maker_space")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_a_signed_out_carrier_link_opens_the_public_page(client, world):
    response = client.get(f"/carriers/{world['own']['id']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/directory/{world['own']['id']}")


def test_the_carrier_page_shows_the_timeline_with_its_level_changes(page_client, world):
    bureau = page_client("bureau_viewer")
    html = text_of(bureau.get(f"/carriers/{world['other']['id']}"))
    timeline = html.split('id="timeline-heading"', 1)[1].split("</section>", 1)[0]
    assert timeline.index("认定授牌") < timeline.index("级别调整")
    assert re.search(r"级别：省级 → <strong>国家级</strong>", timeline)
    assert "乙负责人秘密" in html and "13900000002" in html  # the bureau reads it all


def test_the_carrier_page_shows_reports_alerts_and_history(page_client, api, admin, world, scan_on):
    carrier_id = world["own"]["id"]
    report = api.post(
        f"/api/v1/carriers/{carrier_id}/annual-reports",
        json={"year": 2021, "metrics": {"apprentices_trained": 7}},
        token=admin,
    )
    assert report.status_code == 201, report.get_json()
    scan_on("2026-12-01")
    alerts = api.get(f"/api/v1/alerts?carrier_id={carrier_id}", token=admin).get_json()
    html = text_of(page_client("bureau_admin").get(f"/carriers/{carrier_id}"))
    reports = html.split('id="reports-heading"', 1)[1].split("</section>", 1)[0]
    assert "2021" in reports and "带徒人数：7" in reports
    shown_alerts = html.split('id="alerts-heading"', 1)[1].split("</section>", 1)[0]
    assert alerts and shown_alerts.count("<tr>") == len(alerts) + 1  # + the header row
    history = html.split('id="history-heading"', 1)[1].split("</section>", 1)[0]
    assert "新增" in history and "记录里程碑" in history


def test_the_export_buttons_export_the_current_filter(page_client, world):
    operator = page_client("operator", [world["org_a"]["id"]])
    html = text_of(operator.get("/carriers?type=postdoc_workstation&sort=-name"))
    link = re.search(r'href="(/carriers/export\?[^"]*format=csv[^"]*)"', html).group(1)
    link = link.replace("&amp;", "&")
    assert "type=postdoc_workstation" in link and "sort=-name" in link
    response = operator.get(link)
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    assert [row[1] for row in rows[1:]] == ["乙博士后工作站"]
    for secret in SECRETS:
        assert secret not in body
    xlsx = operator.get(link.replace("format=csv", "format=xlsx"))
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_a_feed_key_made_on_the_page_reads_the_calendar_feed(page_client, api, world, in_db):
    from registry import access

    operator = page_client("operator", [world["org_a"]["id"]])
    with in_db():
        access.issue_token(operator.person, "calendar")  # a key works while a token does
    page = operator.get(f"/feed-key?carrier_id={world['own']['id']}")
    assert page.status_code == 200 and "生成订阅地址" in text_of(page)
    made = text_of(operator.form(f"/feed-key?carrier_id={world['own']['id']}"))
    urls = re.findall(r'value="(http://[^"]+calendar\.ics\?key=[^"]+)"', made)
    assert len(urls) == 2
    for url in urls:
        feed = api.get(url.replace("http://localhost", "").replace("&amp;", "&"))
        assert feed.status_code == 200 and feed.mimetype == "text/calendar"


# --- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_is_the_bureaus(client, page_client, world):
    assert client.get("/dashboard").status_code == 302
    assert page_client("operator", [world["org_a"]["id"]]).get("/dashboard").status_code == 403
    assert page_client("bureau_viewer").get("/dashboard").status_code == 200


def test_the_dashboard_shows_the_apis_figures(page_client, api, admin, world, scan_on, in_db):
    from jobs import catalog, runs

    target = api.post(
        "/api/v1/targets",
        json={
            "name": "省级以上载体达到4个",
            "metric": "carrier_count",
            "filter": {"level_min": "provincial", "status": "accredited"},
            "target_value": 4,
            "deadline": "2030-12-31",
        },
        token=admin,
    )
    assert target.status_code == 201, target.get_json()
    with in_db():
        runs.execute(catalog.get("scan"), trigger="manual", actor="tests")
    html = text_of(page_client("bureau_viewer").get("/dashboard"))

    stats = api.get(
        "/api/v1/stats/carriers?group_by=type,level&status=accredited", token=admin
    ).get_json()
    table = html.split('id="carrier-counts-table"', 1)[1].split("</table>", 1)[0]
    for group in stats["groups"]:
        row = table.split(f"type={group['type']}", 1)[1].split("</tr>", 1)[0]
        cells = re.findall(r'<td class="num">(?:<strong>)?(\d+)', row)
        level_index = ["national", "provincial", "municipal", "county"].index(group["level"])
        assert int(cells[level_index]) == group["count"]
    assert f"共 {stats['total']} 个" in table

    progress = api.get(f"/api/v1/targets/{target.get_json()['id']}", token=admin).get_json()
    bar = re.search(r'role="progressbar"[^>]*aria-valuenow="([\d.]+)"', html)
    assert float(bar.group(1)) == min(progress["progress"]["percent"], 100)

    deadlines = api.get("/api/v1/deadlines?within=90&page_size=100", token=admin)
    section = html.split('id="deadlines-heading"', 1)[1].split("</section>", 1)[0]
    assert section.count("<time") == int(deadlines.headers["X-Total-Count"])

    alerts = api.get("/api/v1/alerts?status=open&page_size=100", token=admin).get_json()
    section = html.split('id="alerts-heading"', 1)[1].split("</section>", 1)[0]
    shown = sum(int(n) for n in re.findall(r'<td class="num">(\d+)</td>\s*<td', section))
    assert shown == len(alerts)

    with in_db():
        last = runs.last_current_success("scan")
        from registry.web.query import local_time

        assert local_time(last.finished_at) in html


def test_the_count_chart_is_an_image_with_its_figures_in_words():
    from registry.web.charts import Bar, stacked_bars

    svg = str(
        stacked_bars(
            [Bar("技能大师工作室", (0, 2, 6, 6)), Bar("众创空间", (0, 1, 0, 1))],
            ["国家级", "省级", "宁波市级", "慈溪市级"],
            title="各类载体数量",
            chart_id="c",
        )
    )
    assert 'role="img"' in svg and 'aria-labelledby="c-title c-desc"' in svg
    assert '<title id="c-title">各类载体数量</title>' in svg
    assert "技能大师工作室：共14个（省级2个，宁波市级6个，慈溪市级6个）" in svg
    assert svg.count("<rect") == 4 + 3 + 2  # the legend, then one per non-zero segment
