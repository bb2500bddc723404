"""Schemas of the scheduled jobs and their run log (SPEC §7)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from schemas.common import ListArgsSchema, Timestamp, one_of

RUN_OUTCOMES = ["running", "succeeded", "failed"]


class JobRunSchema(ma.Schema):
    """One run of a job."""

    id = fields.Integer()
    job = fields.String(metadata={"description": "The job's id."})
    trigger = fields.String(metadata={"description": "schedule, manual or cli."})
    actor = fields.String(metadata={"description": "The scheduler process or the person."})
    as_of = fields.Date(metadata={"description": "The day the run concerned."})
    started_at = Timestamp()
    finished_at = Timestamp(allow_none=True)
    outcome = fields.String(metadata={"description": "running, succeeded or failed."})
    counts = fields.Dict(
        allow_none=True, metadata={"description": "What the run did (job-specific counts)."}
    )
    error = fields.String(allow_none=True, metadata={"description": "Why it failed."})


class JobSchema(ma.Schema):
    """A scheduled job with its schedule, next run and last run."""

    id = fields.String()
    description = fields.String()
    schedule = fields.String(metadata={"description": "Cron expression or interval."})
    next_run_at = Timestamp(
        allow_none=True, metadata={"description": "Next scheduled time (from the schedule)."}
    )
    last_run = fields.Nested(JobRunSchema, allow_none=True)
    last_success_at = Timestamp(
        allow_none=True, metadata={"description": "End of the latest successful run."}
    )


class JobRunQueryArgsSchema(ListArgsSchema):
    """Pagination and filter of a job's run log (newest first)."""

    class Meta:
        exclude = ("q",)

    outcome = fields.String(
        validate=one_of(RUN_OUTCOMES, "run outcome"),
        metadata={"description": "Only runs with this outcome: " + ", ".join(RUN_OUTCOMES)},
    )
