"""Every installed stage is found through its entry point, light to load, described by a schema, and deployed
(tests/unit/platform/test_deploy.py checks compose and Kubernetes for the same list)."""

from __future__ import annotations

import json
import subprocess
import sys

from transferline import events, stages
from transferline.stage import Stage

HEAVY = ("tensorflow", "official", "shapely", "pycocotools", "matplotlib", "imagehash", "numpy", "google.protobuf")


def test_every_stage_loads_from_its_entry_point_with_a_request_schema() -> None:
    loaded = stages.load_all()
    assert [stage.name for stage in loaded] == sorted(stages.installed())
    schemas = events.json_schemas()
    for stage in loaded:
        assert issubclass(stage, Stage) and stage.Request.__module__.endswith(".request")
        for kind in events.KINDS:
            assert events.event_type(stage.name, kind) in schemas


def test_loading_every_stage_and_command_imports_no_heavy_library() -> None:
    """So publishing, the schemas and a slim image (the gateway's) never pull in TensorFlow or geometry code."""
    code = (
        "import sys, json; from transferline import stages; from transferline.cli import _parser; "
        "stages.load_all(); _parser(); print(json.dumps(sorted(sys.modules)))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(found.stdout)
    assert [m for m in loaded if m.startswith(HEAVY)] == []
    assert "transferline_trainer.stage" in loaded and "transferline_converter.cli" in loaded
