"""A job's artifacts: listed with a download link each (presigned by S3, or this gateway's own download route
when the store is a local folder that no browser can reach)."""

from __future__ import annotations

import mimetypes

from flask import Response, jsonify, url_for
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel, Field
from werkzeug.exceptions import NotFound

from transferline import keys
from transferline.store import ObjectInfo, Store
from transferline_gateway import auth
from transferline_gateway.api import TAG, found_job
from transferline_gateway.clients import Clients
from transferline_gateway.models import Artifact, ArtifactPage, JobPath, PageQuery
from transferline_gateway.problems import ErrorBody
from transferline_gateway.settings import GatewaySettings


class ArtifactQuery(PageQuery):
    under: str = Field("", max_length=300, description="only artifacts under this path of the job (images/, labels/)")


class ArtifactPath(BaseModel):
    job: str
    path: str = Field(description="the artifact's path under the job, e.g. labels/coco.json")


def artifacts_api(clients: Clients, settings: GatewaySettings) -> APIBlueprint:
    api = APIBlueprint("artifacts", __name__, url_prefix="/v1", abp_tags=[TAG])
    api.before_request(auth.guard(settings.api_token.get_secret_value(), settings.protect_reads))

    @api.get("/jobs/<job>/artifacts", responses={200: ArtifactPage, 404: ErrorBody})
    def list_artifacts(path: JobPath, query: ArtifactQuery) -> Response:
        """The job's files: key, size, media type and a download link; a page at a time, in key order."""
        found_job(clients, path.job)
        prefix = keys.job_prefix(path.job)
        start = prefix + query.under
        after = prefix + query.cursor if query.cursor else ""
        page = [info for info in clients.store.list(start) if info.key > after][: query.limit + 1]
        shown = [_artifact(clients.store, path.job, info, settings.presign_seconds) for info in page[: query.limit]]
        more = len(page) > query.limit
        cursor = page[query.limit - 1].key.removeprefix(prefix) if more else None
        return jsonify(ArtifactPage(artifacts=shown, next_cursor=cursor).model_dump())

    @api.get("/jobs/<job>/artifacts/<path:path>", responses={404: ErrorBody})
    def download_artifact(path: ArtifactPath) -> Response:
        """One artifact's bytes, streamed from the store."""
        key = keys.job_file(path.job, path.path)
        try:
            stream = clients.store.open(key)
        except KeyError:
            raise NotFound(f"no artifact {path.path!r} in job {path.job!r}") from None
        return Response(stream, mimetype=_media_type(key), direct_passthrough=True)

    return api


def _artifact(store: Store, job_id: str, info: ObjectInfo, expires: int) -> Artifact:
    link = store.presigned_url(info.key, expires)
    if not link.startswith(("http://", "https://")):
        relative = info.key.removeprefix(keys.job_prefix(job_id))
        link = url_for("artifacts.download_artifact", job=job_id, path=relative)
    return Artifact(key=info.key, size=info.size, type=_media_type(info.key), link=link)


def _media_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
