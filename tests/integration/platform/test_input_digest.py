"""Skip-if-done covers what a stage reads: the same request over the same inputs is replayed, over a re-uploaded
export it is redone, and so is a chained records step whose labels the convert re-run changed."""

from __future__ import annotations

import json

from tests.support.exports import labelbox_ndjson
from tests.support.harness import Pipeline, renamed, store_images, unique
from tests.support.labels import GtDataset, make_dataset
from transferline import keys
from transferline.stage import Stage
from transferline_converter.stage import ConvertStage
from transferline_recorder.stage import RecordsStage


def upload(pipeline: Pipeline, job: str, dataset: GtDataset) -> None:
    for name, data in labelbox_ndjson.write(dataset).items():
        pipeline.store.put_bytes(keys.raw_labels(job, name), data)


def a_job(pipeline: Pipeline) -> tuple[str, GtDataset]:
    job, dataset = unique("job-"), make_dataset(seed=21, images=4)
    store_images(pipeline.store, job, {image.file_name: image.jpeg() for image in dataset.images})
    upload(pipeline, job, dataset)
    return job, dataset


def corrected(dataset: GtDataset) -> GtDataset:
    """The same images, with one object fewer: what a labeller's fix looks like."""
    image = next(image for image in dataset.images if image.objects)
    image.objects.pop()
    return dataset


def run(pipeline: Pipeline, *stages: Stage) -> None:
    threads = [pipeline.run_in_thread(stage, max_events=1) for stage in stages]
    for thread in threads:
        thread.join(180)
        assert not thread.is_alive()


def test_the_same_request_is_replayed_until_its_export_is_uploaded_again(backend_settings) -> None:
    pipeline = Pipeline.open(backend_settings)
    convert = renamed(ConvertStage)
    job, dataset = a_job(pipeline)
    objects = sum(len(image.objects) for image in dataset.images)
    for _ in range(2):
        pipeline.request(convert.name, job, seed=1)
        run(pipeline, convert)
    upload(pipeline, job, corrected(dataset))
    pipeline.request(convert.name, job, seed=1)
    run(pipeline, convert)

    outcomes = pipeline.outcomes(job, 3)
    assert [o["type"].rsplit(".", 1)[-1] for o in outcomes] == ["completed"] * 3, outcomes
    assert [o["data"]["replayed"] for o in outcomes] == [False, True, False]
    first, again, redone = (o["data"]["input_digest"] for o in outcomes)
    assert first == again != redone
    assert outcomes[2]["data"]["counters"]["objects"] == objects - 1
    assert len(json.loads(pipeline.store.get_bytes(keys.coco(job)))["annotations"]) == objects - 1


def test_a_chained_records_step_is_redone_after_convert_rewrote_its_labels(embedded_settings) -> None:
    """Embedded only: the digest over a listing is backend-neutral (the test above covers MinIO), and three chained
    rounds through two consumer groups on the shared Kafka were too slow to wait for on a loaded 2-core CI."""
    pipeline = Pipeline.open(embedded_settings)
    convert, records = renamed(ConvertStage), renamed(RecordsStage)
    job, dataset = a_job(pipeline)
    plan = [{"stage": records.name, "options": {"num_shards": 1, "workers": 1}}]
    # one runner per stage for all three rounds: no consumer-group rejoin between them
    threads = [pipeline.run_in_thread(stage, max_events=3) for stage in (convert, records)]
    pipeline.request(convert.name, job, seed=1, plan=plan)
    pipeline.outcomes(job, 2, timeout=180)
    pipeline.request(convert.name, job, seed=1, plan=plan)  # nothing changed: both steps replay
    pipeline.outcomes(job, 4, timeout=180)
    upload(pipeline, job, corrected(dataset))
    pipeline.request(convert.name, job, seed=1, plan=plan)
    for thread in threads:
        thread.join(180)
        assert not thread.is_alive()

    outcomes = pipeline.outcomes(job, 6)
    assert all(o["type"].endswith(".completed") for o in outcomes), outcomes
    seen = [(o["data"]["stage"], o["data"]["replayed"]) for o in outcomes]
    assert seen == [
        (convert.name, False),
        (records.name, False),
        (convert.name, True),
        (records.name, True),
        (convert.name, False),
        (records.name, False),
    ]
    objects = sum(len(image.objects) for image in dataset.images)  # the corrected count
    before, after = (_objects(o["data"]["counters"]) for o in (outcomes[1], outcomes[5]))
    assert (before, after) == (objects + 1, objects)  # the records hold the new labels


def _objects(counters: dict[str, float]) -> float:
    return sum(value for name, value in counters.items() if name.endswith("_objects"))
