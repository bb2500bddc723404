"""/jobs: the scheduled jobs, their next and last runs, the run log, and running one now."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from jobs import catalog, runs
from registry import access, audit
from registry.api.common import LIST_HEADERS, error_responses, page_headers, paginate
from registry.models import JobRun
from schemas.jobs import JobRunQueryArgsSchema, JobRunSchema, JobSchema

blp = Blueprint(
    "jobs",
    __name__,
    url_prefix="/api/v1/jobs",
    description="Scheduled jobs (SPEC §7): the daily scan, the weekly digest and the webhook "
    "delivery, with their schedule, next and last runs and the run log. The bureau reads "
    "them; an admin may run one now.",
)


def get_job(job_id: str) -> catalog.Job:
    job = catalog.get(job_id)
    if job is None:
        abort(
            404, message=f"No job {job_id}; the jobs are {', '.join(j.id for j in catalog.JOBS)}."
        )
    return job


def describe(job: catalog.Job) -> dict:
    """A job with its schedule, the next time it fires and its latest runs."""
    config = current_app.config
    last = runs.last_run(job.id)
    success = runs.last_current_success(job.id)
    try:
        trigger = job.schedule.build(config)
        now = dt.datetime.now(trigger.timezone)
        next_run = trigger.get_next_fire_time(None, now)
    except (ValueError, TypeError):  # a bad schedule in the configuration
        next_run = None
    return {
        "id": job.id,
        "description": job.description,
        "schedule": job.schedule.describe(config),
        "next_run_at": next_run.astimezone(dt.UTC).replace(tzinfo=None) if next_run else None,
        "last_run": runs.as_dict(last) if last else None,
        "last_success_at": (success.finished_at or success.started_at) if success else None,
    }


@blp.route("")
class Jobs(MethodView):
    @blp.response(200, JobSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403)
    def get(self):
        """List the scheduled jobs with their next and last runs (bureau)"""
        access.require(access.BUREAU_ADMIN, access.BUREAU_VIEWER)
        items = [describe(job) for job in catalog.JOBS]
        # A handful of jobs: always one page.
        return items, 200, page_headers(len(items), 1, max(1, len(items)))


@blp.route("/<string:job_id>/runs")
class JobRuns(MethodView):
    @blp.arguments(JobRunQueryArgsSchema, location="query")
    @blp.response(200, JobRunSchema(many=True), headers=LIST_HEADERS)
    @error_responses(blp, 401, 403, 404)
    def get(self, args, job_id):
        """List the runs of one job, newest first (bureau)"""
        access.require(access.BUREAU_ADMIN, access.BUREAU_VIEWER)
        job = get_job(job_id)
        query = JobRun.select().where(JobRun.job == job.id)
        if "outcome" in args:
            query = query.where(JobRun.outcome == args["outcome"])
        query = query.order_by(JobRun.started_at.desc(), JobRun.id.desc())
        rows, headers = paginate(query, args["page"], args["page_size"])
        return [runs.as_dict(run) for run in rows], 200, headers


@blp.route("/<string:job_id>/run")
class JobRunNow(MethodView):
    @blp.response(200, JobRunSchema)
    @error_responses(blp, 401, 403, 404)
    def post(self, job_id):
        """Run a job now and record the run (bureau admin)

        Runs in the request, whichever process holds the scheduler lock, and answers the
        recorded run; a job that fails answers 200 with outcome `failed` and its error.
        """
        access.require(access.BUREAU_ADMIN)
        job = get_job(job_id)
        run = runs.execute(job, trigger="manual", actor=audit.current_actor())
        return runs.as_dict(run)
