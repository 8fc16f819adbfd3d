"""/v1/jobs: create, list, show, cancel, take labels. Views parse and delegate to the platform (jobs, plans,
jobview); every state they report is read from the store."""

from __future__ import annotations

from typing import BinaryIO, cast

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from flask_openapi3.types import ResponseDict
from werkzeug.exceptions import NotFound

from transferline import jobs, jobview, plans
from transferline.errors import ConfigurationError, Conflict, FieldErrors, InvalidInput
from transferline.events import Event
from transferline_gateway import auth, problems
from transferline_gateway.clients import Clients
from transferline_gateway.models import Accepted, Cancelled, JobCreate, JobPath, LabelsForm, LabelsStored, PageQuery
from transferline_gateway.models import job_links as links
from transferline_gateway.problems import ErrorBody
from transferline_gateway.settings import GatewaySettings

SOURCE = "transferline/gateway"
# Field paths of the request event, as the body of POST /v1/jobs names them.
JOB_FIELDS = {"data.plan.": "plan.", "data.": "options.", "subject": "job_id"}
TAG = Tag(name="jobs", description="jobs: a first stage, a plan, people's part (labels, cancel)")
MUTATING: ResponseDict = {401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody}


def jobs_api(clients: Clients, settings: GatewaySettings) -> APIBlueprint:
    api = APIBlueprint("jobs", __name__, url_prefix="/v1", abp_tags=[TAG], abp_responses={422: ErrorBody})
    api.before_request(auth.guard(settings.api_token.get_secret_value(), settings.protect_reads))

    @api.post("/jobs", responses={201: Accepted, **MUTATING}, security=auth.SECURITY)
    def create_job(body: JobCreate) -> tuple[Response, int] | Response:
        """Save the job's plan and publish its first request (validated as `transferline publish` does)."""
        job_id = body.job_id or jobs.new_job_id()
        payload = {**body.options, "plan": [step.model_dump(mode="json") for step in body.plan]}
        pause = plans.LABELS_AFTER if body.wait_for_labels else None
        try:
            refuse_import_paths([body.stage] + [step.stage for step in body.plan])
            event = jobs.create_job(clients.bus, clients.store, body.stage, job_id, payload, pause, SOURCE)
        except ConfigurationError as exc:  # an unknown stage
            return problems.error(422, str(exc), [("stage", str(exc))])
        except InvalidInput as exc:
            return problems.invalid(exc, JOB_FIELDS)
        return accepted(event), 201

    @api.get("/jobs", responses={200: jobview.JobPage})
    def list_jobs(query: PageQuery) -> Response:
        """Jobs, newest first, a page at a time."""
        return jsonify(jobview.list_jobs(clients.store, query.limit, query.cursor).model_dump(mode="json"))

    @api.get("/jobs/<job>", responses={200: jobview.JobView, 404: ErrorBody})
    def show_job(path: JobPath) -> Response:
        """The job's state and each stage's state, attempts, counters, timings, last progress and error."""
        return jsonify(found_job(clients, path.job).model_dump(mode="json"))

    @api.post("/jobs/<job>/cancel", responses={202: Cancelled, **MUTATING}, security=auth.SECURITY)
    def cancel_job(path: JobPath) -> tuple[Response, int]:
        """Stop the job: stages check it before work and at progress points; nothing chains after it."""
        view = found_job(clients, path.job)
        if view.state in ("succeeded", "failed"):
            raise Conflict(f"job {path.job} has {view.state} already")
        plans.cancel(clients.store, path.job)
        return jsonify(Cancelled(job_id=path.job, state="cancelled", links=links(path.job)).model_dump()), 202

    @api.post("/jobs/<job>/labels", responses={202: LabelsStored, **MUTATING}, security=auth.SECURITY)
    def upload_labels(path: JobPath, form: LabelsForm) -> tuple[Response, int]:
        """Store a labelling export under labels/raw/ and continue the job's saved plan (at convert)."""
        view = found_job(clients, path.job)
        if view.state != "waiting-for-labels":
            raise Conflict(f"job {path.job} is not waiting for labels ({view.state})")
        stored = jobs.store_labels(
            clients.store, path.job, form.file.filename or "export", cast(BinaryIO, form.file.stream)
        )
        event = jobs.resume(clients.bus, clients.store, path.job, SOURCE)
        body = LabelsStored(
            job_id=path.job,
            key=stored.key,
            size=stored.size,
            continued_at=event.stage,
            event_id=event.envelope.id,
            links=links(path.job),
        )
        return jsonify(body.model_dump()), 202

    return api


def found_job(clients: Clients, job_id: str) -> jobview.JobView:
    view = jobview.job_view(clients.store, job_id)
    if view is None:
        raise NotFound(f"no job {job_id!r}")
    return view


def refuse_import_paths(refs: list[str], first: str = "stage") -> None:
    """Requests name stages, never import paths: `module:Class` from a request would import any installed module."""
    for index, ref in enumerate(refs):
        if ":" in ref:
            field = first if index == 0 else f"plan.{index - 1}.stage"
            raise FieldErrors("invalid request", [(field, f"give a stage's name, not an import path ({ref!r})")])


def accepted(event: Event) -> Response:
    body = Accepted(job_id=event.job_id, event_id=event.envelope.id, topic=event.topic, links=links(event.job_id))
    return jsonify(body.model_dump())
