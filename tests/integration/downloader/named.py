"""The download stage under a name a subprocess test chooses, so services on the shared Kafka never mix."""

from __future__ import annotations

import os

from transferline_downloader.stage import DownloadStage


class NamedDownloadStage(DownloadStage):
    name = os.environ.get("TRANSFERLINE_TEST_STAGE", "download")
