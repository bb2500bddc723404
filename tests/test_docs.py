"""The README stays true: every setting documented, the two set-up commands present."""

from pathlib import Path

from registry.config import SETTINGS, markdown_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def test_readme_documents_every_setting():
    for setting in SETTINGS:
        assert f"`{setting.env}`" in README, setting.env


def test_readme_table_matches_settings():
    table = README.split("<!-- settings -->\n")[1].split("\n<!-- /settings -->")[0]
    assert table == markdown_table()


def test_readme_has_the_two_setup_commands():
    assert "make run " in README and "make test " in README
