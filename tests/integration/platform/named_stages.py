"""Built-in stages under a name a subprocess test chooses, so services on the shared Kafka never mix."""

from __future__ import annotations

import os

from transferline_converter.stage import ConvertStage


class NamedConvertStage(ConvertStage):
    name = os.environ.get("TRANSFERLINE_TEST_STAGE", "convert")
