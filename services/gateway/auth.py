"""Bearer-token auth: mutating routes always need `Authorization: Bearer <TRANSFERLINE_API_TOKEN>`, reads only
when TRANSFERLINE_PROTECT_READS is set. Compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import Response, request
from flask_openapi3.types import SecuritySchemesDict

from transferline_gateway.problems import error

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# The OpenAPI security requirement of a route that needs the token, and the scheme it names.
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
SCHEMES: SecuritySchemesDict = {"bearer": {"type": "http", "scheme": "bearer", "description": "TRANSFERLINE_API_TOKEN"}}


def token_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def guard(token: str, protect_reads: bool) -> Callable[[], Response | None]:
    """A before_request hook for the API blueprint."""

    def check() -> Response | None:
        if request.method in READS and not protect_reads:
            return None
        if token_matches(request.headers.get("Authorization"), token):
            return None
        response = error(401, "this route needs Authorization: Bearer <TRANSFERLINE_API_TOKEN>")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    return check
