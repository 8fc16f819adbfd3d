"""POST /v1/stages/<stage>/requests: a raw stage request, the same schema as `transferline publish`. Each installed
stage gets a route typed with its own request model, so the OpenAPI document shows every stage's schema."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel
from werkzeug.exceptions import NotFound

from transferline import jobs, stages
from transferline.errors import ConfigurationError, InvalidInput
from transferline.payloads import StageRequest
from transferline_gateway import auth, problems
from transferline_gateway.api import MUTATING, SOURCE, accepted, refuse_import_paths
from transferline_gateway.clients import Clients
from transferline_gateway.models import Accepted, StageRequestQuery
from transferline_gateway.settings import GatewaySettings


class StagePath(BaseModel):
    stage: str


REQUEST_FIELDS = {"data.": "", "subject": "job_id"}
TAG = Tag(name="stages", description="one stage request, as `transferline publish <stage>` sends it")


def stages_api(clients: Clients, settings: GatewaySettings) -> APIBlueprint:
    api = APIBlueprint("stages", __name__, url_prefix="/v1/stages", abp_tags=[TAG])
    api.before_request(auth.guard(settings.api_token.get_secret_value(), settings.protect_reads))
    for stage in stages.load_all():
        _add_route(api, clients, stage.name, stage.Request)

    @api.post("/<stage>/requests", doc_ui=False)
    def other_stage(path: StagePath) -> tuple[Response, int] | Response:
        """A stage this process knows by name but that has no entry point (registered by a runner or a test)."""
        return publish(clients, path.stage)

    return api


def publish(clients: Clients, stage: str) -> tuple[Response, int] | Response:
    payload: Any = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return problems.error(422, "the body must be a JSON object (the stage's request)", [("body", "not an object")])
    try:
        refuse_import_paths([stage] + [str(step.get("stage", "")) for step in _steps(payload)])
        job_id = request.args.get("job_id") or jobs.new_job_id()
        event = jobs.create_job(clients.bus, clients.store, stage, job_id, payload, None, SOURCE)
    except ConfigurationError as exc:
        raise NotFound(str(exc)) from None
    except InvalidInput as exc:
        return problems.invalid(exc, REQUEST_FIELDS)
    return accepted(event), 201


def _steps(payload: dict[str, Any]) -> list[dict[str, Any]]:
    plan = payload.get("plan")
    return [step for step in plan if isinstance(step, dict)] if isinstance(plan, list) else []


def _add_route(api: APIBlueprint, clients: Clients, name: str, model: type[StageRequest]) -> None:
    """A route whose body is the stage's request model (flask-openapi3 reads the models from the annotations)."""

    def view(query: StageRequestQuery, body: StageRequest) -> tuple[Response, int] | Response:
        return publish(clients, name)

    view.__annotations__ = {"query": StageRequestQuery, "body": model, "return": Response}
    view.__name__ = view.__qualname__ = f"request_{name.replace('-', '_')}"
    view.__doc__ = f"Publish a {name} request (the plan chains stages after it)."
    api.post(f"/{name}/requests", responses={201: Accepted, **MUTATING}, security=auth.SECURITY)(view)
