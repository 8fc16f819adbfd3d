"""The API's own request and response models; the stages' request models come from their registry, and the
OpenAPI document is generated from both."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import FileStorage
from pydantic import BaseModel, ConfigDict, Field

from transferline.payloads import PlanStep


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCreate(Strict):
    """A job: its first stage with the options of that stage's request, and the stages to chain after it."""

    job_id: str | None = Field(None, description="letters, digits, '.', '_' or '-' (default: a new id)")
    stage: str = Field(min_length=1, max_length=200, description="the first stage: collect, download, convert, ...")
    options: dict[str, Any] = Field(default_factory=dict, description="the first stage's request (see /v1/stages)")
    plan: list[PlanStep] = Field(default_factory=list, max_length=20)
    wait_for_labels: bool = Field(False, description="stop after download until a labelling export is uploaded")


class JobPath(BaseModel):
    job: str = Field(description="the job id")


class PageQuery(Strict):
    limit: int = Field(20, ge=1, le=200)
    cursor: str | None = Field(None, max_length=300, description="next_cursor of the previous page")


class StageRequestQuery(Strict):
    job_id: str | None = Field(None, description="the job (default: a new id)")


class Accepted(BaseModel):
    job_id: str
    event_id: str = Field(description="id of the request event published")
    topic: str
    links: dict[str, str]


class Cancelled(BaseModel):
    job_id: str
    state: str
    links: dict[str, str]


class Artifact(BaseModel):
    key: str
    size: int
    type: str = Field(description="media type guessed from the name")
    link: str = Field(description="a presigned URL, or this gateway's download route")


class ArtifactPage(BaseModel):
    artifacts: list[Artifact]
    next_cursor: str | None = None


class LabelsForm(BaseModel):
    file: FileStorage = Field(description="the labelling tool's export (Labelbox NDJSON, COCO, ...)")


class LabelsStored(BaseModel):
    job_id: str
    key: str
    size: int
    continued_at: str = Field(description="the stage the job continues at")
    event_id: str
    links: dict[str, str]


def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "artifacts": f"{base}/artifacts", "labels": f"{base}/labels", "cancel": f"{base}/cancel"}
