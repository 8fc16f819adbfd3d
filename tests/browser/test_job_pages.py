"""The web UI in a real headless Chromium: a job created through the "new job" form (a URL list upload) runs on
real stages (collect, download from a loopback image host, then convert and records once its labels are uploaded
through the page), and its page follows it without a reload: stage timeline, failures by reason, gallery, label
report, records samples, TFRecords links.

No TensorFlow training runs here. For the model part, the trainer's own evaluation code (`run._evaluate`: the
prediction pictures and the PR plot it publishes under models/<run>/) runs over the job's real COCO split with a
stand-in detector that answers with the ground-truth boxes; the SavedModel and TFLite files are stand-in bytes and
the training summaries a TensorBoard event file of made-up losses, under the trainer's names. The live loss curve
is drawn from a small stage that reports losses the way the trainer's fit loop does (step of steps, total_loss),
through the real runner."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from tests.browser.conftest import TOKEN, Served, screenshot
from tests.support.harness import unique
from tests.support.http import serve_files
from tests.support.providers import collector_settings
from tests.support.shapes import make_split
from tests.unit.gateway.test_pages_summaries import write_scalars
from transferline import events, keys
from transferline.payloads import StageRequest
from transferline.stage import Stage, StageContext, StageResult
from transferline_collector.stage import CollectStage
from transferline_converter.stage import ConvertStage
from transferline_downloader.settings import DownloaderSettings
from transferline_downloader.stage import DownloadStage
from transferline_recorder.stage import RecordsStage
from transferline_trainer import run as trainer_run
from transferline_trainer.evaluate import ImageDetections
from transferline_trainer.job import StoreOutputs
from transferline_trainer.request import TrainRequested

CLASSES = ("circle", "square", "triangle")
WAIT_MS = 120_000  # a hang guard for each wait on the page, not a measure of speed
RUN = "run1"


class GroundTruthDetector:
    """Stands in for the exported SavedModel: answers each image with its ground-truth boxes, every third one
    moved off its object (a miss and a false positive), so the PR curves have something to show."""

    def __init__(self, coco: dict) -> None:
        self.boxes: dict[int, list[dict]] = {}
        for annotation in coco["annotations"]:
            self.boxes.setdefault(int(annotation["image_id"]), []).append(annotation)

    def detect(self, image_id: int, data: bytes) -> ImageDetections:
        found = self.boxes.get(image_id, [])
        boxes = [self._box(a["bbox"], moved=a["id"] % 3 == 0) for a in found]
        scores = [0.6 if a["id"] % 3 == 0 else 0.9 for a in found]
        return ImageDetections(
            image_id,
            np.array(boxes, dtype=float).reshape(-1, 4),
            np.array([a["category_id"] for a in found]),
            np.array(scores),
        )

    @staticmethod
    def _box(bbox: list[float], moved: bool) -> list[float]:
        x, y, width, height = bbox
        x += 0.7 * width if moved else 0
        return [y, x, y + height, x + width]  # [ymin, xmin, ymax, xmax], as the serving signature gives them


def publish_model_files(served: Served, job: str, workdir: Path) -> dict:
    """What a train run leaves under models/<run>/, made as the module docstring says."""
    store = served.pipeline.store
    truth = json.loads(store.get_bytes(keys.coco(job, "val")))
    outputs = StoreOutputs(store, job, RUN)
    inputs = trainer_run.RunInputs(
        shards={},
        train_images=0,
        categories=[],
        evaluation=truth,
        read_image=lambda name: store.get_bytes(keys.images(job) + name),
        fetch_base=lambda source, sha256: None,  # type: ignore[arg-type,return-value]
    )
    detector = GroundTruthDetector(truth)
    metrics = trainer_run._evaluate(TrainRequested(), inputs, detector, workdir, outputs, lambda *_: None)  # type: ignore[arg-type]
    metrics["training"] = {"step": 20, "seconds": 1.0, "images_per_second": 1.0, "losses": {"total_loss": 0.5}}
    losses = [(step, 2.0 / step) for step in range(1, 21)]
    summaries = write_scalars(workdir / "events.out.tfevents.1", "total_loss", losses)
    for name, data in {
        "summaries/train/events.out.tfevents.1": summaries.read_bytes(),
        "eval/metrics.json": json.dumps(metrics).encode(),
        "saved_model/saved_model.pb": b"stand-in",
        "model.tflite": b"stand-in",
    }.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        outputs.publish(path, name)
    return metrics


def test_a_job_from_the_form_runs_waits_for_labels_and_shows_what_it_made(
    served: Served, page: Page, tmp_path: Path
) -> None:
    coco = make_split(tmp_path / "host", 20, CLASSES, seed=3)
    with serve_files(tmp_path / "host") as host:
        listed = tmp_path / "urls.txt"
        listed.write_text("".join(f"{host}/{image['file_name']}\n" for image in coco["images"]) + f"{host}/gone.jpg\n")
        job = create_through_the_form(served, page, listed)
        watch_it_download(served, page)
        upload_labels_and_convert(served, page, tmp_path, coco)
        metrics = publish_model_files(served, job, tmp_path / "run")
        record_and_see_the_model(served, page, metrics)
    assert page.evaluate("window.notReloaded") is True  # every change above came without a reload
    screenshot(page, "job-page")
    page.goto(served.url + "/")
    expect(page.locator(f"[data-job={job}] .badge").first).to_have_text("running")  # train is requested, not run
    screenshot(page, "jobs")


def create_through_the_form(served: Served, page: Page, listed: Path) -> str:
    page.goto(served.url + "/")
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    form = page.locator("#new-job")
    job = form.locator("[data-field=job_id]").input_value()
    form.locator("[data-kind=upload]").set_input_files(str(listed))
    form.get_by_role("button", name="Create job").click()  # no token yet: refused
    expect(form.locator("[data-error-for='']")).to_contain_text("Bearer")

    page.locator("#token input").fill(TOKEN)
    form.locator("#f-steps").fill("0")
    form.get_by_role("button", name="Create job").click()  # the API's validation, shown beside the field
    expect(form.locator("[data-error-for='plan.3.options.steps']")).to_contain_text("greater than 0")
    screenshot(page, "new-job-errors")

    form.locator("#f-steps").fill("20")
    form.get_by_role("button", name="Create job").click()
    page.wait_for_url(f"**/jobs/{job}", timeout=WAIT_MS)
    expect(page.locator("[data-job-state]")).to_have_text("running")
    expect(page.locator("[data-stage=collect] [data-state]")).to_have_text("pending")
    page.evaluate("window.notReloaded = true")
    return job


def watch_it_download(served: Served, page: Page) -> None:
    served.pipeline.run_in_thread(CollectStage(collector_settings()), max_events=1)
    served.pipeline.run_in_thread(DownloadStage(DownloaderSettings(download_allow_networks="127.0.0.1/32")), 1)
    expect(page.locator("[data-job-state]")).to_have_text("waiting-for-labels", timeout=WAIT_MS)
    download = page.locator("[data-stage=download]")
    expect(download.locator("[data-state]")).to_have_text("succeeded")
    expect(download.locator("[data-bar]")).to_have_attribute("style", "width: 100%;")
    expect(download.locator(".failure", has_text="http-status")).to_have_text("failed.http-status 1")  # gone.jpg
    expect(page.locator("[data-gallery] img")).to_have_count(20, timeout=WAIT_MS)
    expect(page.get_by_role("link", name="labelbox_import.json")).to_be_visible()
    page.wait_for_function("[...document.querySelectorAll('[data-gallery] img')].every(i => i.naturalWidth > 0)")
    screenshot(page, "job-waiting-for-labels")


def upload_labels_and_convert(served: Served, page: Page, tmp_path: Path, coco: dict) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(coco))  # COCO names the pictures as the image host did: matched by name
    page.locator("form.labels input[type=file]").set_input_files(str(export))
    page.get_by_role("button", name="Upload labels").click()
    expect(page.locator("[data-notice]")).to_contain_text("continues at convert")
    served.pipeline.run_in_thread(ConvertStage(), max_events=1)
    expect(page.locator("[data-stage=convert] [data-state]")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("[data-label-report]")).to_contain_text("circle")


def record_and_see_the_model(served: Served, page: Page, metrics: dict) -> None:
    served.pipeline.run_in_thread(RecordsStage(), max_events=1)
    expect(page.locator("[data-stage=records] [data-state]")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("[data-samples] img").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("[data-records] a", has_text=".tfrecord").first).to_be_visible()
    run = page.locator(f"[data-run={RUN}]")
    expect(run.locator("[data-ap50]")).to_have_text(f"{metrics['ap50']:.3f}")
    expect(run.locator("[data-pr-chart] polyline")).to_have_count(len(metrics["pr_iou50"]["precision"]))
    expect(run.locator("[data-loss-chart] polyline")).to_have_count(1)
    expect(run.locator("[data-predictions] img").first).to_be_visible()
    expect(run.locator("[data-model-downloads] a", has_text="saved_model.pb")).to_be_visible()
    expect(run.locator("[data-model-downloads] a", has_text="model.tflite")).to_be_visible()
    page.wait_for_function("[...document.querySelectorAll('#panel img')].every(i => i.complete && i.naturalWidth > 0)")


class FitRequested(StageRequest):
    pass


class ReportsLosses(Stage[FitRequested]):
    """Reports a falling total_loss, step after step, each again until the test says the page has drawn it (the
    runner records at most one report a second, and always the last)."""

    name = unique("fit")
    Request = FitRequested

    def __init__(self, drawn: list[threading.Event]) -> None:
        self.drawn = drawn

    def handle(self, request: FitRequested, ctx: StageContext) -> StageResult:
        for step, drawn in enumerate(self.drawn, start=1):
            while not drawn.wait(0.2):
                ctx.progress(step, len(self.drawn), f"step {step}", total_loss=1.0 / step)
        return StageResult()


events.REGISTRY.register_stage(ReportsLosses.name, FitRequested)
POINTS = "document.querySelector('[data-loss-line]').getAttribute('points').split(' ').filter(Boolean)"


def test_the_loss_curve_grows_as_the_stage_reports(served: Served, page: Page) -> None:
    body = json.dumps({"stage": ReportsLosses.name}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    created = urllib.request.urlopen(urllib.request.Request(served.url + "/v1/jobs", body, headers))
    job = json.loads(created.read())["job_id"]
    page.goto(f"{served.url}/jobs/{job}")
    drawn = [threading.Event() for _ in range(3)]
    served.pipeline.run_in_thread(ReportsLosses(drawn), max_events=1)
    for step, event in enumerate(drawn, start=1):
        page.wait_for_function(f"{POINTS}.length >= {step}", timeout=WAIT_MS)
        event.set()
    expect(page.locator("[data-job-state]")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("[data-loss-label]")).to_have_text("total_loss")
    expect(page.locator("[data-cancel]")).to_be_hidden()  # nothing left to cancel
    heights = [float(point.split(",")[1]) for point in page.evaluate(POINTS)]
    assert len(heights) == 3 and heights == sorted(heights)  # y grows downwards: the loss fell at every step
    screenshot(page, "loss-curve")
