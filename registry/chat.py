"""Chat-robot messages: a short Chinese text for each event, in the ``msgtype: text`` body
that DingTalk and WeCom group robots accept, and DingTalk's signed-URL variant.

Every message starts with :data:`KEYWORD`, so a DingTalk robot secured by "custom keyword"
can be set to it. Unknown event types and unexpected data shapes get a generic line: a
message is never refused for its content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from registry.vocabulary import (
    ALERT_KINDS,
    CARRIER_STATUSES,
    CARRIER_TYPES,
    EVALUATION_RESULTS,
    EVENT_TYPES,
    MILESTONE_KINDS,
)

KEYWORD = "【人才载体】"
#: WeCom refuses text content over 2,048 bytes; DingTalk allows more.
MAX_BYTES = 2000

FIELD_LABELS = {
    "name": "名称",
    "type": "类型",
    "level": "级别",
    "status": "状态",
    "host_organization_id": "依托单位",
    "host_organization": "依托单位",
    "partners": "合作单位",
    "town": "所在镇街",
    "tags": "标签",
    "description": "简介",
    "lead_person": "负责人",
    "established_on": "成立日期",
    "valid_until": "有效期至",
    "next_evaluation_on": "下次评估日期",
    "next_report_due_on": "年报截止日期",
    "attributes": "其他属性",
    "contact": "联系人",
}
#: Bookkeeping fields left out of "changed" lists.
QUIET_FIELDS = {"updated_at", "created_at", "open_alert_count"}


def message_body(event_type: str, data: Any, levels: dict[str, str]) -> dict:
    """The robot JSON body for one event: ``{"msgtype": "text", "text": {"content": …}}``."""
    return {"msgtype": "text", "text": {"content": message_text(event_type, data, levels)}}


def message_text(event_type: str, data: Any, levels: dict[str, str]) -> str:
    """A short Chinese line describing the event (generic for unknown types or shapes)."""
    describe = DESCRIBERS.get(event_type)
    text = None
    if describe is not None and isinstance(data, dict):
        try:
            text = describe(data, levels)
        except (KeyError, TypeError, ValueError, AttributeError):
            text = None
    if not text:
        label = EVENT_TYPES.get(event_type, "事件")
        text = f"{label}（{event_type}）"
        name = _carrier_name(data) if isinstance(data, dict) else None
        if name:
            text += f"：{name}"
    return _clip(KEYWORD + text)


def _clip(text: str) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_BYTES:
        return text
    return encoded[: MAX_BYTES - 3].decode("utf-8", errors="ignore") + "…"


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _carrier_name(data: dict) -> str | None:
    carrier = _section(data, "carrier")
    if carrier.get("name"):
        return str(carrier["name"])
    for key in ("alert", "report", "milestone", "registration"):
        section = _section(data, key)
        if section.get("carrier_name"):
            return str(section["carrier_name"])
        if section.get("carrier_id"):
            return f"载体 {section['carrier_id']}"
    return None


def _carrier_created(data: dict, levels: dict) -> str:
    carrier = data["carrier"]
    return (
        f"新增载体：{carrier['name']}（{CARRIER_TYPES.get(carrier['type'], carrier['type'])}，"
        f"{levels.get(carrier['level'], carrier['level'])}），"
        f"状态：{CARRIER_STATUSES.get(carrier['status'], carrier['status'])}。"
    )


def _carrier_updated(data: dict, levels: dict) -> str:
    changed = [key for key in data.get("changed") or [] if key not in QUIET_FIELDS]
    names = "、".join(dict.fromkeys(FIELD_LABELS.get(key, key) for key in changed))
    return f"载体信息变更：{data['carrier']['name']}" + (f"，变更：{names}。" if names else "。")


def _milestone_recorded(data: dict, levels: dict) -> str:
    milestone = data["milestone"]
    kind = MILESTONE_KINDS.get(milestone["kind"], milestone["kind"])
    text = f"{_carrier_name(data) or '载体'}：{kind}（{milestone['occurred_on']}）"
    if milestone.get("result"):
        text += f"，结果：{EVALUATION_RESULTS.get(milestone['result'], milestone['result'])}"
    if milestone.get("level"):
        text += f"，级别：{levels.get(milestone['level'], milestone['level'])}"
    return text + "。"


def _alert(opened: bool) -> Callable[[dict, dict], str]:
    def describe(data: dict, levels: dict) -> str:
        alert = data["alert"]
        kind = ALERT_KINDS.get(alert["kind"], alert["kind"])
        name = _carrier_name(data) or "载体"
        if not opened:
            return f"预警解除：{name}，{kind}（截止 {alert['due_on']}）。"
        text = f"预警：{name}，{kind}，截止 {alert['due_on']}"
        days = alert.get("days_left")
        if isinstance(days, int):
            text += f"（剩余 {days} 天）" if days >= 0 else f"（已逾期 {-days} 天）"
        return text + "。"

    return describe


def _report_submitted(data: dict, levels: dict) -> str:
    report = data["report"]
    return f"{_carrier_name(data) or '载体'} 提交了 {report['year']} 年度报告。"


def _registration_submitted(data: dict, levels: dict) -> str:
    return f"收到登记申请：{_carrier_name(data) or '载体'}，待审核。"


def _registration_reviewed(data: dict, levels: dict) -> str:
    status = _section(data, "carrier").get("status") or _section(data, "registration").get("status")
    outcome = CARRIER_STATUSES.get(status, status) if status else "已审核"
    return f"登记申请审核：{_carrier_name(data) or '载体'}，结果：{outcome}。"


def _registration_withdrawn(data: dict, levels: dict) -> str:
    return f"登记申请已撤回：{_carrier_name(data) or '载体'}。"


def _digest(data: dict, levels: dict) -> str:
    for key in ("summary", "text"):
        if isinstance(data.get(key), str) and data[key]:
            return f"每周摘要：{data[key]}"
    return ""


def _ping(data: dict, levels: dict) -> str:
    return f"测试消息：订阅 {data['webhook']['id']} 连接正常。"


def _disabled(data: dict, levels: dict) -> str:
    webhook = data["webhook"]
    return f"订阅 {webhook['id']} 因自 {webhook['failing_since']} 起持续投递失败，已停用。"


DESCRIBERS: dict[str, Callable[[dict, dict], str]] = {
    "carrier.created": _carrier_created,
    "carrier.updated": _carrier_updated,
    "milestone.recorded": _milestone_recorded,
    "alert.opened": _alert(opened=True),
    "alert.resolved": _alert(opened=False),
    "report.submitted": _report_submitted,
    "registration.submitted": _registration_submitted,
    "registration.reviewed": _registration_reviewed,
    "registration.withdrawn": _registration_withdrawn,
    "digest.weekly": _digest,
    "webhook.ping": _ping,
    "webhook.disabled": _disabled,
}


def dingtalk_signed_url(url: str, robot_secret: str, timestamp_ms: int) -> str:
    """DingTalk's signed-URL variant: ``&timestamp=…&sign=…`` where sign is the URL-encoded
    base64 HMAC-SHA256 of ``"timestamp\\nsecret"`` keyed with the secret."""
    to_sign = f"{timestamp_ms}\n{robot_secret}".encode()
    digest = hmac.new(robot_secret.encode(), to_sign, hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode("ascii"))
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"


def robot_error(payload: Any) -> str | None:
    """The error a robot reported in a 200 answer (``errcode`` other than 0), else None."""
    if isinstance(payload, dict) and payload.get("errcode") not in (None, 0):
        return f"robot errcode {payload.get('errcode')}: {payload.get('errmsg', '')}".strip()
    return None
