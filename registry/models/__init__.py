"""Peewee models, one module per area, and their named queries."""

from registry.models.access import Principal, SignInAttempt, SiteSecret, Token
from registry.models.audit import Change, OutboxEvent
from registry.models.core import (
    Carrier,
    CarrierCount,
    CarrierPartner,
    CarrierTag,
    Organization,
)
from registry.models.jobs import Alert, JobRun, SchedulerLock
from registry.models.lifecycle import (
    AnnualReport,
    CarrierPeriod,
    EvaluationCampaign,
    EvaluationPolicy,
    Milestone,
)
from registry.models.rosters import Member
from registry.models.targets import Target
from registry.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

#: Every table, in creation order (referenced tables first).
ALL_MODELS = [
    Organization,
    Carrier,
    CarrierCount,
    CarrierPartner,
    CarrierTag,
    Principal,
    Token,
    Change,
    OutboxEvent,
    EvaluationPolicy,
    Milestone,
    CarrierPeriod,
    AnnualReport,
    Alert,
    Webhook,
    WebhookDelivery,
    WebhookAttempt,
    Target,
    JobRun,
    SchedulerLock,
    Member,
    EvaluationCampaign,
    SignInAttempt,
    SiteSecret,
]

__all__ = [
    "ALL_MODELS",
    "Alert",
    "AnnualReport",
    "Carrier",
    "CarrierCount",
    "CarrierPartner",
    "CarrierPeriod",
    "CarrierTag",
    "Change",
    "EvaluationCampaign",
    "EvaluationPolicy",
    "JobRun",
    "Member",
    "Milestone",
    "Organization",
    "OutboxEvent",
    "Principal",
    "SignInAttempt",
    "SiteSecret",
    "Target",
    "SchedulerLock",
    "Token",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
