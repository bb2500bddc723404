"""What the directory pages share: the query string read by the API's own schema, page links
that keep every filter (a view is a bookmarkable URL), and the labels of the vocabulary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import marshmallow as ma
from flask import request, url_for

from registry import clock, i18n

#: Most page links shown around the current page.
PAGE_WINDOW = 2


def load_args(schema: ma.Schema) -> tuple[dict, dict[str, list[str]]]:
    """The request's query string loaded by ``schema`` (the API's), and the messages of the
    parameters it refused (in Chinese, from the API's catalogue). A form's empty field is no
    filter; a refused parameter is left out so that the page still shows the rest (the API
    answers 422 for it instead)."""
    raw = {key: value for key, value in request.args.items() if value.strip()}
    try:
        return schema.load(raw), {}
    except ma.ValidationError as error:
        errors = i18n.translate_errors(_messages(error.messages))
        kept = {key: value for key, value in raw.items() if key not in errors}
        return schema.load(kept), errors


def _messages(messages) -> dict[str, list[str]]:
    if isinstance(messages, dict):
        return {
            str(key): [str(m) for m in (value if isinstance(value, list) else [value])]
            for key, value in messages.items()
        }
    return {"_schema": [str(messages)]}


def current_query(**changes) -> dict[str, str]:
    """The request's non-empty query parameters with ``changes`` (None removes one)."""
    query = {key: value for key, value in request.args.items() if value.strip()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return query


@dataclass(frozen=True)
class PageLink:
    label: str
    url: str | None
    current: bool = False
    rel: str | None = None


def page_links(total: int, page: int, page_size: int) -> list[PageLink]:
    """Links to the pages of a list of ``total`` items, keeping every filter."""
    last = max(1, -(-total // page_size))

    def link(number: int) -> str:
        return url_for(request.endpoint, **(request.view_args or {}), **current_query(page=number))

    links = [PageLink("上一页", link(page - 1) if page > 1 else None, rel="prev")]
    shown = sorted({1, last, *range(max(1, page - PAGE_WINDOW), min(last, page + PAGE_WINDOW) + 1)})
    previous = 0
    for number in shown:
        if number - previous > 1:
            links.append(PageLink("…", None))
        links.append(PageLink(str(number), link(number), current=number == page))
        previous = number
    links.append(PageLink("下一页", link(page + 1) if page < last else None, rel="next"))
    return links


def local_time(value: dt.datetime | None) -> str:
    """A stored naive-UTC time as people read it: in the configured zone, to the minute."""
    if value is None:
        return "—"
    return clock.to_local(value).strftime("%Y-%m-%d %H:%M")


#: Labels of the list's filters (the query parameters of ``GET /carriers``).
FILTER_LABELS = {
    "q": "搜索（名称、依托单位、拼音）",
    "type": "类型",
    "level": "级别",
    "level_min": "最低级别",
    "status": "状态",
    "town": "所在镇街",
    "tag": "标签",
    "accredited_from": "认定日期自",
    "accredited_to": "认定日期至",
    "evaluation_due_before": "下次评估不晚于",
    "report_due_before": "年报截止不晚于",
    "as_of": "查看历史日期",
    "sort": "排序",
    "page_size": "每页条数",
}
#: Filters chosen from a code list, and the labels (``labels`` of the templates) they show.
CODED_FILTERS = {"type": "types", "level": "levels", "level_min": "levels", "status": "statuses"}
DATE_FILTERS = frozenset(
    {"accredited_from", "accredited_to", "evaluation_due_before", "report_due_before", "as_of"}
)


def field_labels() -> dict[str, str]:
    """Labels of a carrier's fields: the export's column headers (one place for them)."""
    from registry.spreadsheets import CARRIER_COLUMNS

    found = {column.field: column.header for column in CARRIER_COLUMNS}
    return {
        **found,
        "host_organization": "依托单位",
        "host_organization_id": "依托单位",
        "contact": "联系人",
        "attributes": "扩展属性",
        "report_due": "年报截止日（月-日）",
        "roster_metrics": "名册统计",
        "milestone": "里程碑",
        "created_at": "登记时间",
        "updated_at": "更新时间",
    }


def number(value) -> str:
    """A figure as people write it: whole numbers without a decimal point."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
