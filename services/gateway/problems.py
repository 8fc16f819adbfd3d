"""JSON error bodies: every error names its status and, where a field is to blame, the field."""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import BaseModel, Field, ValidationError
from werkzeug.exceptions import HTTPException

from transferline import events
from transferline.errors import FieldErrors, InvalidInput


class Problem(BaseModel):
    field: str = Field(description="the request field to blame, as a dotted path (options.split, plan.0.stage)")
    message: str


class ErrorBody(BaseModel):
    status: int
    error: str
    problems: list[Problem] = Field(default_factory=list)


def error(status: int, message: str, problems: list[tuple[str, str]] | None = None) -> Response:
    body = ErrorBody(status=status, error=message, problems=[Problem(field=f, message=m) for f, m in problems or []])
    response = jsonify(body.model_dump())
    response.status_code = status
    return response


def invalid(exc: InvalidInput, rename: dict[str, str]) -> Response:
    """422 for invalid input; field paths of the event (`data.split`) become the request's (`options.split`)."""
    found = exc.problems if isinstance(exc, FieldErrors) else []
    return error(422, str(exc), [(_renamed(field, rename), message) for field, message in found])


def from_validation(exc: ValidationError) -> Response:
    """flask-openapi3's validation of a body, query or form: 422 naming each field."""
    return error(422, "invalid request", events.problems(exc, ""))


def from_http(exc: HTTPException) -> Response:
    return error(exc.code or 500, exc.description or exc.name)


def _renamed(field: str, rename: dict[str, str]) -> str:
    """The first matching prefix is replaced (so `data.plan.` goes before `data.`)."""
    for old, new in rename.items():
        if field.startswith(old):
            return new + field.removeprefix(old)
    return field
