"""GET /api/v1/vocabulary: every code list with its labels, public and cacheable."""

from __future__ import annotations

from registry import deadlines, roster_rules, vocabulary
from registry.api.vocabulary import MAX_AGE


def codes(entries):
    return [entry["code"] for entry in entries]


def test_anyone_reads_every_code_list_with_its_labels(api):
    response = api.get("/api/v1/vocabulary")
    assert response.status_code == 200
    body = response.get_json()
    assert body["carrier_types"][3] == {"code": "skill_master_studio", "label": "技能大师工作室"}
    assert codes(body["levels"]) == vocabulary.LEVELS
    assert codes(body["carrier_statuses"]) == list(vocabulary.CARRIER_STATUSES)
    assert codes(body["milestone_kinds"]) == list(vocabulary.MILESTONE_KINDS)
    assert codes(body["organization_kinds"]) == list(vocabulary.ORGANIZATION_KINDS)
    assert codes(body["alert_kinds"]) == list(vocabulary.ALERT_KINDS)
    assert codes(body["roles"]) == vocabulary.ROLES
    assert codes(body["deadline_kinds"]) == list(deadlines.RULES)
    assert codes(body["member_roles"]) == list(roster_rules.ROLE_TYPES)
    assert "浒山街道" in codes(body["towns"])
    assert {"code": "apprentices_trained", "label": "带徒人数"} in body["report_metrics"][
        "skill_master_studio"
    ]
    assert all(
        entry["label"]
        for name, entries in body.items()
        if name != "report_metrics"
        for entry in entries
    )


def test_level_labels_are_the_configured_ones(app, api):
    app.config["LEVEL_LABEL_MUNICIPAL"] = "杭州市级"
    levels = api.get("/api/v1/vocabulary").get_json()["levels"]
    assert levels[2] == {"code": "municipal", "label": "杭州市级"}


def test_vocabulary_is_cacheable_and_answers_304_to_its_etag(api):
    first = api.get("/api/v1/vocabulary")
    assert first.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    etag = first.headers["ETag"]
    again = api.get("/api/v1/vocabulary", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag


def test_every_outcome_a_roster_role_may_end_with_has_a_label():
    outcomes = set().union(*roster_rules.ROLE_OUTCOMES.values())
    assert outcomes == set(vocabulary.MEMBER_OUTCOMES)
    assert set(roster_rules.ROLE_TYPES) == set(vocabulary.MEMBER_ROLES)


def test_vocabulary_is_documented_as_public(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/vocabulary"]["get"]
    assert operation["security"] == [{}]
    assert "Vocabulary" in spec["components"]["schemas"]
