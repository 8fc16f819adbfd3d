"""The "new job" form: its choices and defaults come from the stages' own request models, and the page's script
turns it into the body of POST /v1/jobs (so a job from the form is validated exactly as one from the API). Each
input names the request field it fills (`data-field`), which is how an error from the API finds its input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transferline import jobs
from transferline.payloads import StageRequest

# The whole pipeline, as `make run` chains it: collect first, then each step of the plan in order.
PIPELINE = ("collect", "download", "convert", "records", "train")
FIRST, TRAIN = PIPELINE[0], PIPELINE.index("train") - 1  # TRAIN: the train step's index in the plan


@dataclass(frozen=True)
class JobForm:
    job_id: str
    first: str  # the first stage
    providers: list[str]
    default_providers: list[str]
    licences: list[str]
    max_per_query: int
    model: str
    steps: int
    plan: list[str]  # the stages after the first, in order
    train_field: str  # the request field path of the train step's options (plan.3.options)


def job_form() -> JobForm:
    collect, train = _model(FIRST), _model(PIPELINE[-1])
    schema = collect.model_json_schema()
    return JobForm(
        job_id=jobs.new_job_id(),
        first=FIRST,
        providers=_items(schema, "providers"),
        default_providers=list(_default(collect, "providers")),
        licences=_items(schema, "licenses"),
        max_per_query=int(_default(collect, "max_per_query")),
        model=str(_default(train, "model")),
        steps=int(_default(train, "steps")),
        plan=list(PIPELINE[1:]),
        train_field=f"plan.{TRAIN}.options",
    )


def _model(stage: str) -> type[StageRequest]:
    return jobs.known_stage(stage)[1]


def _default(model: type[StageRequest], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def _items(schema: dict[str, Any], name: str) -> list[str]:
    """The allowed values of a list field (its items' enum)."""
    return [str(value) for value in schema["properties"][name]["items"].get("enum", [])]
