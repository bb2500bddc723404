"""How people find and order names: the stored search key and pinyin sort key of a carrier or
an organisation (a leaf module: pypinyin and peewee only).

People type a name as they remember it: any part of it, in pinyin (``jinengdashi``) or its
initials (``jndsgzs`` for 技能大师工作室), with full-width or half-width brackets, in any case,
with or without spaces. So a name is stored with a **search key** that holds, one per line,
its normalised text (NFKC: full-width brackets and letters become half-width; case folded;
whitespace removed), its full pinyin and its pinyin initials; a carrier's key also holds its
host organisation's. A query is normalised the same way and matched as a substring of the
key (:func:`matches`). Lines cannot be spanned: whitespace never survives normalisation.

Names sort in pinyin order (the order of a Chinese index) by the **sort key**: each syllable
padded to six characters with ``0`` (``ji0000neng00``), so 机 (ji) comes before 金 (jin) with
binary and linguistic collations alike, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
import unicodedata

import peewee as pw

#: Longest stored sort key: far beyond any name (200 characters make at most 1,200), and small
#: enough for a B-tree index entry on PostgreSQL.
SORT_KEY_LENGTH = 600
#: Width of a syllable in the sort key (the longest pinyin syllables: zhuang, shuang).
SYLLABLE_WIDTH = 6


def normalise(text: str) -> str:
    """``text`` as it is compared: NFKC (full-width → half-width), case folded, ``ü`` as
    pinyin writes it in ASCII (``v``), without whitespace."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().replace("ü", "v")
    return "".join(folded.split())


def _each(chunk: str) -> list[str]:
    # pypinyin passes text without Chinese through as one chunk: keep its characters apart.
    return list(chunk)


@functools.lru_cache(maxsize=4096)
def _pinyin(name: str) -> tuple[str, ...]:
    # Remembered: a write computes a name's pinyin for its search key and again for its sort
    # key, and an import of carriers gives the keys of the same host names over and over
    # (pypinyin was a fifth of a 10,000-row import).
    # Imported here, on the first write of a name: pypinyin's dictionaries hold about 55 MB,
    # which a process that only reads (most gunicorn workers, most of the time) never needs.
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(normalise(name), errors=_each))


def search_key(*names: str | None) -> str:
    """The search key of ``names`` (a carrier's name and its host's; an organisation's name):
    per name, its normalised text, full pinyin and initials, one per line."""
    lines = []
    for name in filter(None, names):
        syllables = _pinyin(name)
        lines.append(normalise(name))
        lines.append("".join(s for s in syllables if s.isalnum()))
        lines.append("".join(initial for initial in map(_initial, syllables) if initial.isalnum()))
    return "\n".join(lines)


def _initial(syllable: str) -> str:
    # pypinyin's FIRST_LETTER style is the first letter of the NORMAL one (the same on all
    # 41,923 characters and 47,111 phrases of its dictionaries): one conversion, not two.
    return syllable[:1]


def sort_key(name: str | None) -> str:
    """The pinyin sort key of ``name``: its syllables (and letters and digits) each padded to
    :data:`SYLLABLE_WIDTH`; other characters (brackets, punctuation) do not count."""
    syllables = [s for s in _pinyin(name or "") if s.isalnum()]
    return "".join(s.ljust(SYLLABLE_WIDTH, "0") for s in syllables)[:SORT_KEY_LENGTH]


def matches(column: pw.Field, query: str) -> pw.Expression:
    """Rows whose search key ``column`` holds the normalised ``query`` (a substring match, the
    LIKE wildcards in ``query`` taken literally)."""
    return column.contains(normalise(query))
