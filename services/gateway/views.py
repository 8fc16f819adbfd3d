"""Pages for people: the jobs list with the "new job" form (GET /), a job's page (GET /jobs/<job>) and the part
of it that changes as the job runs (GET /jobs/<job>/panel, fetched again by the page's script).

The pages only read. Everything that changes a job goes through the JSON API with the bearer token, sent by the
page's script from the browser's sessionStorage; the one route here that writes (a URL list for a job about to be
created, which the API has no route for) checks the same token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, cast

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import NotFound

from transferline import jobview, keys
from transferline.errors import InvalidInput
from transferline_gateway import auth, pages, pages_charts, pages_form, problems
from transferline_gateway.clients import Clients

if TYPE_CHECKING:
    from transferline_gateway.app import Gateway

views = Blueprint("views", __name__, template_folder="templates", static_folder="static", static_url_path="/ui")
JOBS_SHOWN = 50


@views.context_processor
def _helpers() -> dict[str, object]:
    return {"percent": pages.percent, "stage_meta": pages.stage_meta, "charts": pages_charts}


@views.before_request
def _refuse_when_reads_are_protected() -> tuple[str, int] | None:
    """With TRANSFERLINE_PROTECT_READS the API wants the token for reads too, and a browser sends no bearer header
    when it opens a page or an <img>: the pages then refuse rather than show what the API hides."""
    if request.endpoint in ("views.static", "views.upload_url_list") or not _gateway().settings.protect_reads:
        return None
    return render_template("protected.html"), 401


@views.get("/")
def jobs_page() -> str:
    page = jobview.list_jobs(_clients().store, JOBS_SHOWN, request.args.get("cursor") or None)
    return render_template("jobs.html", page=page, form=pages_form.job_form())


@views.get("/jobs/<job>")
def job_page(job: str) -> str:
    return render_template("job.html", page=_page(job), ended=jobview.ENDED)


@views.get("/jobs/<job>/panel")
def job_panel(job: str) -> str:
    return render_template("_panel.html", page=_page(job))


@views.post("/jobs/<job>/url-lists")
def upload_url_list(job: str) -> tuple[Response, int]:
    """Store a URL list for the collector of a job that does not exist yet (the form then creates it)."""
    token = _gateway().settings.api_token.get_secret_value()
    if not auth.token_matches(request.headers.get("Authorization"), token):
        return problems.error(401, "this route needs Authorization: Bearer <TRANSFERLINE_API_TOKEN>"), 401
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return problems.error(422, "no URL list", [("file", "choose a file")]), 422
    store = _clients().store
    if jobview.job_view(store, keys.check_id(job, "job id")) is not None:
        return problems.error(409, f"job {job} exists already: URL lists go with a new job"), 409
    stored = store.put_stream(keys.url_list(job, upload.filename), cast(BinaryIO, upload.stream), "text/plain")
    return jsonify({"key": stored.key, "name": keys.clean_name(upload.filename)}), 201


@views.errorhandler(NotFound)
def _missing(exc: NotFound) -> tuple[str, int]:
    """A person who follows a stale link gets a page, not the API's JSON error."""
    return render_template("missing.html", message=exc.description), 404


def _page(job: str) -> pages.JobPage:
    store = _clients().store
    try:
        view = jobview.job_view(store, job)
    except InvalidInput:
        view = None  # a job id keys.py refuses names no job
    if view is None:
        raise NotFound(f"no job {job!r}")
    return pages.job_page(store, view)


def _gateway() -> Gateway:
    from transferline_gateway.app import gateway  # app.py imports this module: imported when first called

    return gateway(current_app)


def _clients() -> Clients:
    return _gateway().clients
