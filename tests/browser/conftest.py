"""The gateway served over loopback (werkzeug in a thread) on the embedded backend, with a pipeline to run real
stages beside it, and a real headless Chromium (Debian's, driven by Playwright: its own download cannot work here).

Chromium is told to resolve no host name but loopback's, so a page can never reach past the machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from tests.conftest import REPO
from tests.support.harness import Pipeline
from transferline.settings import Settings
from transferline_gateway.app import create_app
from transferline_gateway.settings import GatewaySettings

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO / "var" / "screenshots"  # CI keeps var/ as artifacts
TOKEN = "browser-test-token-0123456789"
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"


@dataclass
class Served:
    url: str
    pipeline: Pipeline
    settings: GatewaySettings


@pytest.fixture
def served(embedded_settings: Settings) -> Iterator[Served]:
    settings = GatewaySettings.model_validate({**dict(embedded_settings), "api_token": TOKEN})
    with Pipeline.open(embedded_settings) as pipeline:
        server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        thread.start()
        try:
            yield Served(f"http://127.0.0.1:{server.server_port}", pipeline, settings)
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[LOOPBACK_ONLY])
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    found = context.new_page()
    yield found
    context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
