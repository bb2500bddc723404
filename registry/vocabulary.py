"""Stable codes of SPEC §2 and their display labels: the only place they are spelled out."""

from __future__ import annotations

CARRIER_TYPES: dict[str, str] = {
    "postdoc_workstation": "博士后工作站",
    "postdoc_innovation_base": "博士后创新实践基地",
    "expert_workstation": "企业专家工作站",
    "skill_master_studio": "技能大师工作室",
    "innovation_park": "创业园 / 产业园",
    "maker_space": "众创空间",
    "continuing_education_base": "继续教育基地",
    "public_training_base": "公共实训基地",
    "joint_training_base": "校企合作实习实践基地",
}

#: Levels ordered high to low; ``municipal`` and ``county`` labels come from configuration.
LEVELS: list[str] = ["national", "provincial", "municipal", "county"]
LEVEL_LABELS: dict[str, str] = {"national": "国家级", "provincial": "省级"}

CARRIER_STATUSES: dict[str, str] = {
    "submitted": "待审核",
    "rejected": "未通过",
    "applying": "申报中",
    "accredited": "已认定",
    "rectifying": "整改中",
    "expired": "已到期",
    "revoked": "已摘牌",
    "closed": "已注销",
}

MILESTONE_KINDS: dict[str, str] = {
    "application_submitted": "提交申报",
    "accredited": "认定授牌",
    "level_changed": "级别调整",
    "annual_assessment": "年度考核",
    "mid_term_evaluation": "中期评估",
    "term_evaluation": "期满评估",
    "rectification_completed": "整改完成",
    "revoked": "摘牌",
    "closed": "注销",
}

EVALUATION_RESULTS: dict[str, str] = {
    "excellent": "优秀",
    "good": "良好",
    "pass": "合格",
    "fail": "不合格",
}

#: Annual report statuses (SPEC §5.1): submitted by the carrier, then accepted or returned.
REPORT_STATUSES: dict[str, str] = {
    "submitted": "已提交",
    "accepted": "已通过",
    "returned": "已退回",
}

#: The metrics an annual report may carry, per carrier type: the one list the API documents
#: and validates against. Values are non-negative numbers (people, projects, 万元…).
REPORT_METRICS: dict[str, dict[str, str]] = {
    "postdoc_workstation": {
        "postdocs_in_station": "在站博士后人数",
        "postdocs_recruited": "当年新进站博士后人数",
        "postdocs_completed": "当年出站博士后人数",
        "research_projects": "承担科研项目数",
        "patents_granted": "授权专利数",
        "research_funding_wan": "科研经费（万元）",
    },
    "postdoc_innovation_base": {
        "postdocs_in_station": "在站博士后人数",
        "postdocs_recruited": "当年新进站博士后人数",
        "postdocs_completed": "当年出站博士后人数",
        "research_projects": "承担科研项目数",
        "patents_granted": "授权专利数",
        "research_funding_wan": "科研经费（万元）",
    },
    "expert_workstation": {
        "experts_engaged": "进站专家人数",
        "projects_completed": "完成合作项目数",
        "patents_granted": "授权专利数",
        "trainees_trained": "培养技术人员人数",
        "high_skill_trained": "培养高技能人才人数",
    },
    "skill_master_studio": {
        "apprentices_trained": "带徒人数",
        "trainees_trained": "培训人数",
        "high_skill_trained": "培养高技能人才人数",
        "techniques_improved": "技术攻关与革新项目数",
        "patents_granted": "授权专利数",
    },
    "innovation_park": {
        "enterprises_incubated": "在孵企业数",
        "enterprises_graduated": "当年毕业企业数",
        "talents_attracted": "引进人才人数",
        "jobs_created": "带动就业人数",
        "output_value_wan": "园区企业产值（万元）",
    },
    "maker_space": {
        "enterprises_incubated": "在孵企业（团队）数",
        "startups_founded": "当年新注册企业数",
        "events_held": "举办创业活动次数",
        "jobs_created": "带动就业人数",
        "funding_raised_wan": "获得投融资（万元）",
    },
    "continuing_education_base": {
        "trainees_trained": "培训人次",
        "high_skill_trained": "培养高技能人才人数",
        "courses_held": "举办培训班次",
        "training_hours": "培训学时",
    },
    "public_training_base": {
        "trainees_trained": "实训人次",
        "high_skill_trained": "培养高技能人才人数",
        "certificates_issued": "颁发职业技能等级证书数",
        "training_hours": "实训学时",
    },
    "joint_training_base": {
        "interns_hosted": "接收实习学生人数",
        "graduates_employed": "留用毕业生人数",
        "trainees_trained": "联合培养人数",
        "high_skill_trained": "培养高技能人才人数",
    },
}

#: Metrics that are sums of money (万元) and may have decimals; every other metric counts
#: people, enterprises, projects, certificates or hours and must be a whole number.
AMOUNT_METRICS = frozenset(
    key for keys in REPORT_METRICS.values() for key, label in keys.items() if "万元" in label
)

#: Every metric key of any carrier type (the vocabulary of target ``report_metric``).
ALL_REPORT_METRICS: list[str] = sorted({key for keys in REPORT_METRICS.values() for key in keys})

#: Target metrics (SPEC §3.4) and progress states.
TARGET_METRICS: dict[str, str] = {
    "carrier_count": "载体数量",
    "report_sum": "年报指标合计",
    "roster_count": "名册人数",
}
TARGET_STATES: dict[str, str] = {
    "achieved": "已完成",
    "on_track": "进度正常",
    "at_risk": "进度滞后",
    "missed": "未完成",
}

ORGANIZATION_KINDS: dict[str, str] = {
    "enterprise": "企业",
    "university": "高校",
    "research_institute": "科研院所",
    "association": "行业协会",
    "government": "政府机关",
    "park_operator": "园区运营方",
    "other": "其他",
}

PARTNER_ROLES: dict[str, str] = {
    "university": "合作高校",
    "enterprise": "合作企业",
    "co_host": "共建单位",
    "operator": "运营单位",
    "other": "其他",
}

#: Roles of a principal (a token's holder, SPEC §6).
ROLE_LABELS: dict[str, str] = {
    "bureau_admin": "主管部门管理员",
    "bureau_viewer": "主管部门查阅人员",
    "operator": "载体运营单位",
    "partner": "合作单位",
}
ROLES: list[str] = list(ROLE_LABELS)

#: Roles of a roster entry (``registry.roster_rules.ROLE_TYPES`` says on which carriers).
MEMBER_ROLES: dict[str, str] = {
    "postdoc": "博士后",
    "expert": "专家",
    "master": "技能大师",
    "apprentice": "徒弟",
    "resident_enterprise": "入驻企业",
    "trainee_cohort": "培训班次",
}
#: How a roster entry ended (``registry.roster_rules.ROLE_OUTCOMES`` says which role may).
MEMBER_OUTCOMES: dict[str, str] = {
    "completed": "期满完成",
    "extended": "延期",
    "withdrawn": "退出",
    "terminated": "终止",
    "graduated": "毕业",
    "moved_out": "迁出",
}

#: Actions of the audit trail (SPEC §5.1 ``change``).
CHANGE_ACTION_LABELS: dict[str, str] = {
    "create": "新增",
    "update": "修改",
    "delete": "删除",
    "milestone": "记录里程碑",
    "void": "作废",
    "review": "审核",
    "import": "导入",
    "token": "令牌",
}
CHANGE_ACTIONS: list[str] = list(CHANGE_ACTION_LABELS)

#: What an audit record is about (its ``object_type``).
CHANGE_OBJECT_LABELS: dict[str, str] = {
    "carrier": "载体",
    "milestone": "里程碑",
    "annual_report": "年度报告",
    "member": "名册人员",
    "alert": "预警",
    "organization": "单位",
    "principal": "人员",
    "token": "令牌",
    "target": "目标",
    "evaluation_campaign": "评估批次",
    "evaluation_policy": "评估政策",
    "webhook": "消息订阅",
    "webhook_delivery": "消息推送",
}

#: Carrier types a partner may register for review (SPEC §1: joint training bases).
REGISTRATION_TYPES: list[str] = ["joint_training_base"]
#: Alert statuses (SPEC §3.3).
ALERT_STATUSES: dict[str, str] = {"open": "待处理", "acknowledged": "已确认", "resolved": "已解除"}
ALERT_KINDS: dict[str, str] = {
    "evaluation_due": "评估临近",
    "evaluation_overdue": "评估逾期",
    "report_due": "年报临近",
    "report_overdue": "年报逾期",
    "accreditation_expiring": "认定即将到期",
    "accreditation_expired": "认定已到期",
    "rectification_due": "整改到期",
    "postdoc_overstay": "博士后超期在站",
    "no_postdoc_recruited": "未招收博士后",
    "incubation_overdue": "孵化超期",
}

#: Events written to the outbox (SPEC §7) and what webhooks may subscribe to. Delivery
#: handles any type generically; this list only validates subscriptions and labels chat text.
EVENT_TYPES: dict[str, str] = {
    "carrier.created": "新增载体",
    "carrier.updated": "载体信息变更",
    "milestone.recorded": "记录里程碑",
    "alert.opened": "新增预警",
    "alert.resolved": "预警解除",
    "report.submitted": "提交年度报告",
    "member.created": "新增名册人员",
    "member.updated": "名册人员变更",
    "member.erased": "名册个人信息删除",
    "registration.submitted": "登记申请",
    "registration.reviewed": "登记审核",
    "registration.withdrawn": "撤回登记",
    "digest.weekly": "每周摘要",
    "webhook.ping": "测试消息",
    "webhook.disabled": "订阅停用",
}

#: States of one webhook delivery: waiting or retrying, delivered, attempts used up.
DELIVERY_STATUS_LABELS: dict[str, str] = {
    "pending": "待投递",
    "succeeded": "已送达",
    "failed": "失败",
}
DELIVERY_STATUSES: list[str] = list(DELIVERY_STATUS_LABELS)

#: Webhook body formats: a signed JSON event, or a chat-robot text message.
WEBHOOK_FORMATS: dict[str, str] = {
    "standard": "Standard Webhooks JSON event",
    "dingtalk": "钉钉群机器人",
    "wecom": "企业微信群机器人",
}


def level_rank(level: str) -> int:
    """0 for ``national`` up to 3 for ``county``: lower is higher."""
    return LEVELS.index(level)


def levels_at_least(level: str) -> list[str]:
    """The levels equal to or higher than ``level`` (``level_min`` filter)."""
    return LEVELS[: level_rank(level) + 1]


def level_labels(config: dict) -> dict[str, str]:
    """Labels of every level, the city-specific ones taken from configuration."""
    return {
        **LEVEL_LABELS,
        "municipal": config["LEVEL_LABEL_MUNICIPAL"],
        "county": config["LEVEL_LABEL_COUNTY"],
    }
