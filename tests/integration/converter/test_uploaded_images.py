"""Images uploaded with `transferline upload --images` are stored under their digest; the convert stage still
finds the image of a YOLO row (which names a stem) and of a VOC row (which names a file) by the name each image
was uploaded with, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.exports import voc, yolo
from tests.support.files import write_files
from tests.support.harness import Pipeline, renamed, unique
from tests.support.labels import make_dataset
from transferline import keys
from transferline.cli import main
from transferline.settings import Settings
from transferline_converter.stage import ConvertStage


@pytest.fixture
def pipeline(backend_settings: Settings) -> Iterator[Pipeline]:
    with Pipeline.open(backend_settings) as pipeline:
        yield pipeline


@pytest.mark.parametrize("form", [yolo, voc], ids=["yolo", "voc"])
def test_rows_find_uploaded_images_by_their_original_names(pipeline: Pipeline, tmp_path, monkeypatch, form) -> None:
    stage, job = renamed(ConvertStage), unique("job-")
    dataset = make_dataset(seed=12, images=4)
    export = write_files(tmp_path / "export", form.write(dataset))
    images = dataset.write_images(tmp_path / "images")
    for name, value in pipeline.settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert main(["upload", job, "--export", str(export), "--images", str(images)]) == 0
    assert not pipeline.store.exists(keys.images(job) + dataset.images[0].file_name)  # stored by digest only
    pipeline.request(stage.name, job)
    pipeline.run_in_thread(stage, max_events=1).join(120)

    [outcome] = pipeline.outcomes(job, 1)
    assert outcome["type"].endswith(".completed"), outcome["data"]
    coco = json.loads(pipeline.store.get_bytes(keys.coco(job)))
    by_digest = {image.sha256: image for image in dataset.images}
    assert sorted(i["sha256"] for i in coco["images"]) == sorted(by_digest)
    for image in coco["images"]:
        assert (image["width"], image["height"]) == (
            by_digest[image["sha256"]].width,
            by_digest[image["sha256"]].height,
        )
    assert len(coco["annotations"]) == sum(len(i.objects) for i in dataset.images)
