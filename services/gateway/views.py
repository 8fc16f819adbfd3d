"""Pages for people. GET / is the jobs page: a placeholder here until the web UI's blueprint replaces it."""

from __future__ import annotations

from flask import Blueprint, Response

views = Blueprint("views", __name__)

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>transferline</title></head>
<body><h1>transferline</h1>
<p>The jobs page is coming. Meanwhile: <a href="/v1/jobs">jobs (JSON)</a> and <a href="/docs">the API</a>.</p>
</body></html>
"""


@views.get("/")
def jobs_page() -> Response:
    return Response(PLACEHOLDER, mimetype="text/html")
