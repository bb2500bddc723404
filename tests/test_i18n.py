"""Problem details in the caller's language: Chinese when Accept-Language prefers it, English
otherwise, from the one catalogue (registry/translations)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from i18n_messages import code_list_names, source_messages

from registry import i18n, uscc
from registry.errors import with_article

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
CATALOGUE = Path(i18n.__file__).parent / "translations" / "zh" / "LC_MESSAGES"


def test_committed_mo_is_the_compiled_po():
    """``make messages`` was run after the last edit of messages.po."""
    import io

    with open(CATALOGUE / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert (CATALOGUE / "messages.mo").read_bytes() == compiled.getvalue()


def test_every_catalogue_entry_is_translated_and_keeps_its_placeholders():
    with open(CATALOGUE / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        assert message.string, message.id
        placeholders = set(re.findall(r"\{(\w+)\}", message.id))
        assert set(re.findall(r"\{(\w+)\}", message.string)) == placeholders, message.id


def test_every_message_of_the_code_has_a_chinese_translation(app):
    """Each message our code writes for a client (found in the source: DomainError, abort,
    ValidationError, field-error dicts), filled with sample values, comes out Chinese."""
    untranslated = []
    with app.test_request_context("/api/v1/carriers", headers=ZH):
        for template, where in sorted(source_messages().items()):
            sample = re.sub(r"\{\w+\}", "7", template)
            if not re.search(r"[\u4e00-\u9fff]", i18n.translate(sample)):
                untranslated.append(f"{where}: {template}")
    assert not untranslated, "not in the catalogue:\n" + "\n".join(untranslated)


def test_every_code_list_name_has_a_chinese_translation(app):
    """``Not an organisation kind: x. Use one of …`` names the list in Chinese too."""
    with app.test_request_context("/api/v1/carriers", headers=ZH):
        missing = [
            what
            for what in sorted(code_list_names())
            if i18n.translate(with_article(what)) == with_article(what)
        ]
    assert not missing, missing


# --- through HTTP ------------------------------------------------------------------------


def problem(response, status):
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert "Accept-Language" in response.headers["Vary"]
    return response.get_json()


def test_401_in_chinese_and_english(api):
    zh = problem(api.post("/api/v1/organizations", json={}, headers=ZH), 401)
    assert (zh["title"], zh["detail"]) == ("未认证", "此操作需要令牌。")
    en = problem(api.post("/api/v1/organizations", json={}, headers=EN), 401)
    assert (en["title"], en["detail"]) == ("Unauthorized", "This needs a token.")


def test_403_names_the_role_with_the_right_article(api, make_token, org_factory):
    operator = make_token("operator", [org_factory()["id"]])
    body = {"name": "某企业", "kind": "enterprise"}
    en = problem(api.post("/api/v1/organizations", json=body, token=operator, headers=EN), 403)
    assert en["detail"] == "An operator may not do this."
    zh = problem(api.post("/api/v1/organizations", json=body, token=operator, headers=ZH), 403)
    assert (zh["title"], zh["detail"]) == ("无权操作", "运营单位无权执行此操作。")


def test_404_in_chinese_and_english(api):
    zh = problem(api.get("/api/v1/carriers/999", headers=ZH), 404)
    assert (zh["title"], zh["detail"]) == ("未找到", "没有载体 999。")
    en = problem(api.get("/api/v1/carriers/999"), 404)  # no Accept-Language: English
    assert (en["title"], en["detail"]) == ("Not Found", "No carrier 999.")


def test_422_field_messages_in_chinese(api, admin):
    body = {"kind": "spaceship", "town": "火星镇", "colour": "red"}
    zh = problem(api.post("/api/v1/organizations", json=body, token=admin, headers=ZH), 422)
    assert zh["title"] == "无法处理的内容"
    assert zh["detail"] == "请求体中有字段无效。"
    assert zh["errors"]["name"] == ["必填字段缺失。"]  # marshmallow's
    assert zh["errors"]["kind"][0].startswith("不是有效的单位类型：spaceship。可选值：enterprise")
    assert zh["errors"]["town"] == ["不是本市的镇（街道）：火星镇。"]  # our validator's
    assert zh["errors"]["colour"] == ["未知字段。"]
    en = problem(api.post("/api/v1/organizations", json=body, token=admin, headers=EN), 422)
    assert en["errors"]["name"] == ["Missing data for required field."]
    assert en["errors"]["kind"][0].startswith("Not an organisation kind: spaceship.")


def test_422_nested_and_query_messages_in_chinese(api, admin, org_factory):
    host = org_factory()["id"]
    body = {
        "name": "某工作室",
        "type": "skill_master_studio",
        "level": "county",
        "host_organization_id": host,
        "partners": [{"role": "university"}],
    }
    zh = problem(api.post("/api/v1/carriers", json=body, token=admin, headers=ZH), 422)
    assert zh["errors"]["partners"] == ["0.organization_id: 必填字段缺失。"]
    query = problem(api.get("/api/v1/carriers?page_size=0", headers=ZH), 422)
    assert query["detail"] == "请求参数无效。"
    assert query["errors"]["page_size"] == ["必须大于或等于 1 且小于或等于 100。"]


def test_409_domain_error_in_chinese(api, admin, org_factory):
    code = "91330282000000001" + uscc.check_character("91330282000000001")
    first = org_factory(uscc=code)
    body = {"name": "另一家", "kind": "enterprise", "uscc": code}
    zh = problem(api.post("/api/v1/organizations", json=body, token=admin, headers=ZH), 409)
    assert (zh["title"], zh["detail"]) == ("冲突", f"单位 {first['id']} 已使用代码 {code}。")
    en = problem(api.post("/api/v1/organizations", json=body, token=admin, headers=EN), 409)
    assert en["detail"] == f"Organisation {first['id']} already has the code {code}."


def test_language_preference_follows_quality_values(api):
    prefers_zh = {"Accept-Language": "en;q=0.5, zh-Hans-CN;q=0.9"}
    assert problem(api.get("/api/v1/carriers/9", headers=prefers_zh), 404)["title"] == "未找到"
    prefers_en = {"Accept-Language": "zh;q=0.3, en-US"}
    assert problem(api.get("/api/v1/carriers/9", headers=prefers_en), 404)["title"] == "Not Found"
    other = {"Accept-Language": "fr-FR"}
    assert problem(api.get("/api/v1/carriers/9", headers=other), 404)["title"] == "Not Found"


def test_pages_are_always_chinese_and_the_api_follows_the_header(app):
    with app.test_request_context("/", headers=EN):
        assert i18n.select_locale() == "zh"
        assert i18n.translate("Not Found") == "未找到"
    with app.test_request_context("/directory/carriers", headers=EN):
        assert i18n.select_locale() == "zh"
    with app.test_request_context("/api/v1/carriers", headers=EN):
        assert i18n.select_locale() == "en"
        assert i18n.translate("Not Found") == "Not Found"
    with app.app_context():  # CLI and jobs: English
        assert i18n.select_locale() == "en"


def test_translate_errors_keeps_keys_and_nesting(app):
    messages = {
        "name": ["Missing data for required field."],
        "partners": {"0": {"organization_id": ["Missing data for required field."]}},
        "_schema": ["Something no catalogue knows."],
    }
    with app.test_request_context("/", headers=EN):
        assert i18n.translate_errors(messages) == {
            "name": ["必填字段缺失。"],
            "partners": {"0": {"organization_id": ["必填字段缺失。"]}},
            "_schema": ["Something no catalogue knows."],
        }
        assert i18n.gettext("Conflict") == "冲突"
        assert str(i18n.lazy_gettext("Conflict")) == "冲突"


def test_marshmallow_range_messages_are_all_in_the_catalogue(app):
    """Every message marshmallow's Range and Length validators can write (their operators
    spelled out) translates."""
    from marshmallow import ValidationError, validate

    refused = [
        (validate.Range(min=1), 0),
        (validate.Range(max=9), 10),
        (validate.Range(min=1, max=9), 0),
        (validate.Range(min=1, min_inclusive=False), 1),
        (validate.Range(max=9, max_inclusive=False), 9),
        (validate.Range(min=1, max=9, min_inclusive=False, max_inclusive=False), 9),
        (validate.Range(min=1, max=9, min_inclusive=False), 1),
        (validate.Range(min=1, max=9, max_inclusive=False), 9),
        (validate.Length(min=2), "x"),
        (validate.Length(max=1), "xx"),
        (validate.Length(min=2, max=3), "x"),
        (validate.Length(equal=2), "x"),
        (validate.OneOf(["a", "b"]), "c"),
        (validate.Email(), "x"),
        (validate.URL(), "x"),
        (validate.Regexp("a"), "b"),
    ]
    with app.test_request_context("/api/v1/carriers", headers=ZH):
        for validator, value in refused:
            with pytest.raises(ValidationError) as raised:
                validator(value)
            message = raised.value.messages[0]
            assert re.search(r"[\u4e00-\u9fff]", i18n.translate(message)), message


def test_every_marshmallow_field_message_is_in_the_catalogue(app):
    """The messages of every marshmallow field class (and of schemas), with sample values."""
    import inspect

    import marshmallow as ma
    from marshmallow import fields

    messages = set(ma.Schema._default_error_messages.values())
    for _, field_class in inspect.getmembers(fields, inspect.isclass):
        for cls in getattr(field_class, "__mro__", ()):
            messages.update(getattr(cls, "default_error_messages", {}).values())
    untranslated = []
    with app.test_request_context("/api/v1/carriers", headers=ZH):
        for message in sorted(messages):
            sample = re.sub(r"\{\w+(![rs])?\}", "7", message)
            if not re.search(r"[\u4e00-\u9fff]", i18n.translate(sample)):
                untranslated.append(message)
    assert not untranslated, untranslated
