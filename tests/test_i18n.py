"""Problem details in the caller's language: Chinese when Accept-Language prefers it, English
otherwise, from the one catalogue (registry/translations)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from i18n_messages import source_messages

from registry import i18n

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
