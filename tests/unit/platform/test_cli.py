"""The command line: bad input gives a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from transferline import status
from transferline.bus import open_bus
from transferline.cli import EXIT_TIMEOUT, EXIT_USAGE, main
from transferline.manifest import read_manifest
from transferline.settings import Settings
from transferline.store import open_store


@pytest.fixture(autouse=True)
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLINE_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "paint"], "unknown stage 'paint'"),
        (["publish", "records", "--set", "num_shards=-1"], "data.num_shards: Input should be greater than 0"),
        (["publish", "records", "--set", "nonsense"], "must look like key=value"),
        (["publish", "records", "--job", "../x"], "subject: Value error, job id '../x' is not allowed"),
        (["publish", "records", "--then", "paint"], "unknown stage 'paint'"),
        (["publish", "records", "--payload", "/no/such/file"], "cannot read payload /no/such/file"),
        (["publish", "no.such.module:Stage"], "cannot be loaded"),
        (["publish", ".:x"], "give an absolute module path"),
        (["publish", "records", "--set", "seed=" + "7" * 5000], "--set seed: the value is not usable JSON"),
        (["publish", "records", "--set", "plan=5"], "data.plan: Input should be a valid list"),
        (["publish", "transferline.stages:"], "give an absolute module path"),
        (["serve", "paint"], "unknown stage 'paint': installed stages are "),
        (["publish", "scrape"], "unknown stage 'scrape'"),  # a stage no service installs
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, capsys):
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_payload_that_is_not_an_object_is_refused(tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text("[1, 2]")
    assert main(["publish", "records", "--payload", str(bad)]) == EXIT_USAGE
    assert "must be a JSON object, not list" in capsys.readouterr().err


def test_a_plan_step_with_bad_options_is_refused_before_sending(tmp_path, capsys):
    payload = tmp_path / "p.json"
    payload.write_text(json.dumps({"num_shards": 2, "plan": [{"stage": "train", "options": {"steps": -1}}]}))
    assert main(["publish", "records", "--payload", str(payload)]) == EXIT_USAGE
    assert "plan step 0 (train)" in capsys.readouterr().err


def test_publish_prints_the_job_and_status_shows_nothing_started(capsys):
    assert main(["publish", "records", "--job", "j1", "--set", "num_shards=2"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["job"] == "j1" and sent["topic"] == "transferline.records"
    assert main(["status", "j1"]) == 1
    assert "no stage has started" in capsys.readouterr().out


def test_schemas_are_written_one_file_per_event_type(tmp_path):
    assert main(["schemas", "--out", str(tmp_path)]) == 0
    written = {path.name for path in tmp_path.iterdir()}
    assert "envelope.schema.json" in written and "transferline.train.requested.schema.json" in written
    schema = json.loads((tmp_path / "transferline.records.requested.schema.json").read_text())
    assert schema["$id"] == "urn:transferline:schema:transferline.records.requested:v1"


def test_waiting_for_a_plan_nobody_serves_times_out_naming_the_job(capsys):
    args = ["publish", "convert", "--job", "j2", "--then", "records", "--then", "train", "--wait", "--timeout", "0.3"]
    assert main(args) == EXIT_TIMEOUT
    assert "no outcome within 0.3 s; see `transferline status j2`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{}", "is not JSON"),
        (b"[" * 100_000, "is not usable JSON: RecursionError"),
        (b'{"seed": ' + b"7" * 5000 + b"}", "is not usable JSON: ValueError"),
    ],
)
def test_an_unreadable_payload_exits_2_naming_it(content, message, tmp_path, capsys):
    payload = tmp_path / "p.json"
    payload.write_bytes(content)
    assert main(["publish", "records", "--payload", str(payload)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: payload {payload} ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("out", ["a-file", "a-file/out"])
def test_an_out_that_cannot_be_a_folder_exits_2_naming_it(out, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "labels").mkdir()
    (tmp_path / "images").mkdir()
    args = ["records", str(tmp_path / "labels"), "--images", str(tmp_path / "images"), "--out", str(tmp_path / out)]
    assert main(args) == EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path / out}: cannot make the folder")


def test_upload_keeps_an_image_whose_name_is_not_utf8(tmp_path, capsys):
    images = tmp_path / "imgs"
    images.mkdir()
    picture = io.BytesIO()
    Image.new("RGB", (8, 6)).save(picture, "PNG")
    (images / os.fsdecode(b"caf\xe9.png")).write_bytes(picture.getvalue())  # Latin-1, as old cameras wrote
    assert main(["upload", "j3", "--images", str(images)]) == 0
    assert "1 new images" in capsys.readouterr().out
    [record] = read_manifest(open_store(Settings.from_env()), "j3")
    assert record.file_name == "caf\ufffd.png" and (record.width, record.height) == (8, 6)


def test_a_job_that_waits_for_labels_continues_when_its_export_is_uploaded(tmp_path, capsys):
    assert (
        main(["publish", "download", "--job", "j3", "--then", "convert", "--then", "records", "--wait-for-labels"]) == 0
    )
    capsys.readouterr()
    store = open_store(Settings.from_env())
    [published] = _requests(Settings.from_env(), "transferline.download")
    assert published["data"]["plan"] == []  # convert and records wait in the saved plan
    now = status.now()
    status.write_status(store, status.StageStatus(stage="download", job_id="j3", state="succeeded", request_id="r",
                                                  input_digest="d", started_at=now, finished_at=now))  # fmt: skip
    assert main(["status", "j3"]) == 0
    assert capsys.readouterr().out.startswith("job j3: waiting-for-labels")

    export = tmp_path / "export.ndjson"
    export.write_text("{}\n")
    assert main(["upload", "j3", "--export", str(export)]) == 0
    assert "job j3 continues at convert" in capsys.readouterr().out
    [resumed] = _requests(Settings.from_env(), "transferline.convert")
    assert [step["stage"] for step in resumed["data"]["plan"]] == ["records"]
    assert main(["status", "j3"]) == 0 and capsys.readouterr().out.startswith("job j3: running")


def _requests(settings: Settings, topic: str) -> list[dict]:
    bus = open_bus(settings)
    try:
        consumer = bus.consumer(topic, group="test-reader")
        return [json.loads(message.value) for message in consumer.poll(1.0, max_messages=10)]
    finally:
        bus.close()


def test_at_exit_what_is_alive_is_frozen_out_of_the_last_collection() -> None:
    """An exit handler registered before main runs after main's own (they run last in, first out)."""
    code = (
        "import atexit, gc; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0));"
        " from transferline.cli import main; main(['--help'])"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.splitlines()[-1] == "frozen True"


def test_building_the_parser_imports_no_stage_machinery() -> None:
    """`transferline --help` and a usage error load every service's CLI module, but pydantic, the settings and the
    store only load when a command runs."""
    code = "import json, sys; from transferline.cli import _parser; _parser(); print(json.dumps([*sys.modules]))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(found.stdout)
    assert "transferline_converter.cli" in loaded and "transferline_gateway.cli" in loaded
    running = ("pydantic", "transferline.settings", "transferline.store")
    assert [name for name in loaded if name.startswith(running)] == []
