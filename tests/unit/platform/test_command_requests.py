"""A one-shot command validates its arguments through its stage's request model: whatever the model refuses, the
command refuses the same way (exit 2, the field named, no traceback), before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from transferline.cli import EXIT_USAGE, main
from transferline_converter.request import ConvertRequested
from transferline_recorder.request import RecordsRequested
from transferline_trainer.request import TrainRequested

CASES = [
    (RecordsRequested, ["records", "L", "--images", "I", "--out", "O", "--shard-mb", "0"], "shard_mb", 0),
    (RecordsRequested, ["records", "L", "--images", "I", "--out", "O", "--num-shards", "-1"], "num_shards", -1),
    (RecordsRequested, ["records", "L", "--images", "I", "--out", "O", "--max-side", "0"], "max_side", 0),
    (RecordsRequested, ["records", "L", "--images", "I", "--out", "O", "--workers", "0"], "workers", 0),
    (ConvertRequested, ["convert", "E", "--out", "O", "--format", "excel"], "format", "excel"),
    (ConvertRequested, ["convert", "E", "--out", "O", "--near-duplicate-bits", "99"], "near_duplicate_bits", 99),
    (ConvertRequested, ["convert", "E", "--out", "O", "--max-error-fraction", "2"], "max_error_fraction", 2),
    (ConvertRequested, ["convert", "E", "--out", "O", "--split", "train=-1"], "split", {"train": -1}),
    (TrainRequested, ["train", "R", "--labels", "L", "--images", "I", "--out", "O", "--set", "steps=0"], "steps", 0),
    (
        TrainRequested,
        ["train", "R", "--labels", "L", "--images", "I", "--out", "O", "--set", "input_size=100"],
        "input_size",
        100,
    ),
    (
        TrainRequested,
        ["train", "R", "--labels", "L", "--images", "I", "--out", "O", "--set", "run=../x"],
        "run",
        "../x",
    ),
]


@pytest.mark.parametrize(("model", "args", "field", "value"), CASES, ids=[" ".join(c[1][-2:]) for c in CASES])
def test_the_command_refuses_what_the_request_model_refuses(
    model: type[BaseModel], args: list[str], field: str, value: object, tmp_path: Path, monkeypatch, capsys
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({field: value})
    assert refused.value.errors()[0]["loc"][0] == field

    monkeypatch.chdir(tmp_path)
    for name in ("E", "L", "I", "R"):  # inputs that exist, so only the bad value can be what is refused
        (tmp_path / name).mkdir()
    (tmp_path / "L" / "coco_train.json").write_text(json.dumps({"images": [], "annotations": []}))
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and "Traceback" not in err
    assert not (tmp_path / "O").exists()  # refused before any work
