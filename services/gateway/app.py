"""The gateway's Flask app factory: one `create_app` for gunicorn, the image and the tests.

Blueprints: api (/v1/jobs), artifacts, stage_api (/v1/stages), health, views (pages, GET /). Nothing here opens a
client: the bus and store open lazily in each worker (clients.py), after gunicorn forks.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from flask import Flask, Response, jsonify, redirect, request
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import HTTPException

from transferline.errors import Conflict, InvalidInput, TransientError
from transferline_gateway import auth, problems
from transferline_gateway.api import jobs_api
from transferline_gateway.artifacts import artifacts_api
from transferline_gateway.clients import Clients
from transferline_gateway.health import REQUESTS, health_blueprint
from transferline_gateway.settings import GatewaySettings, with_token
from transferline_gateway.stage_api import stages_api
from transferline_gateway.views import views

log = logging.getLogger(__name__)
EXTENSION = "transferline"
API_VERSION = "1"


@dataclass(frozen=True)
class Gateway:
    """What blueprints (the web UI's too) reach through `current_app.extensions["transferline"]`."""

    settings: GatewaySettings
    clients: Clients


def create_app(settings: GatewaySettings | None = None) -> OpenAPI:
    """The app over `settings` (default: the environment). Without a token the stack refuses to start and the
    embedded mode makes one (`gateway(app).settings.api_token`); `transferline gateway` prints it."""
    settings, generated = with_token(settings or GatewaySettings.from_env())
    if generated:
        log.warning("no TRANSFERLINE_API_TOKEN: generated one for this app")
    app = OpenAPI(
        __name__,
        info=Info(title="transferline", version=API_VERSION, description="From image search to a trained detector"),
        security_schemes=auth.SCHEMES,
        doc_prefix="/docs",
        doc_url="/openapi.json",
        validation_error_callback=problems.from_validation,
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_mb * 1024 * 1024
    clients = Clients(settings)
    app.extensions[EXTENSION] = Gateway(settings, clients)
    app.register_api(jobs_api(clients, settings))
    app.register_api(artifacts_api(clients, settings))
    app.register_api(stages_api(clients, settings))
    app.register_blueprint(health_blueprint(clients))
    app.register_blueprint(views)
    app.add_url_rule("/openapi.json", "openapi_json", lambda: jsonify(app.api_doc))
    app.add_url_rule("/docs", "docs", lambda: redirect("/docs/swagger"))
    _handle_errors(app)
    app.before_request(_refuse_malformed_json)
    app.after_request(_count)
    return app


def gateway(app: Flask) -> Gateway:
    found: Gateway = app.extensions[EXTENSION]
    return found


def _handle_errors(app: Flask) -> None:
    app.register_error_handler(HTTPException, problems.from_http)
    app.register_error_handler(Conflict, lambda exc: problems.error(409, str(exc)))
    app.register_error_handler(InvalidInput, lambda exc: problems.invalid(exc, {}))
    app.register_error_handler(TransientError, _unavailable)


def _unavailable(exc: TransientError) -> Response:
    log.warning("bus or store unavailable", extra={"error": str(exc)})
    response = problems.error(503, f"bus or store unavailable: {exc}")
    response.headers["Retry-After"] = "5"
    return response


def _refuse_malformed_json() -> Response | None:
    """400 for a JSON body that does not parse, before validation would call it a missing object."""
    if request.is_json and request.content_length and request.get_json(silent=True) is None:
        return problems.error(400, "the request body is not valid JSON")
    return None


def _count(response: Response) -> Response:
    """Count the request, and say which worker answered (with 4 workers and 2 replicas, which one answers is
    chance: the header makes a wrong answer traceable to its process)."""
    REQUESTS.labels(request.endpoint or "unmatched", str(response.status_code)).inc()
    response.headers["X-Served-By"] = f"{socket.gethostname()}/{os.getpid()}"
    return response
