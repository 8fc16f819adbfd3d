"""COCO evaluation with pycocotools directly: known answers, the box order, empty inputs, the plot and the pictures."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
from PIL import Image

from transferline.errors import InvalidInput
from transferline_trainer.evaluate import (
    EvalResult,
    ImageDetections,
    coco_results,
    colour,
    draw_predictions,
    evaluate,
    pr_plot,
)

# Wide and tall images, so that swapping x and y would move every box off its object.
IMAGES = [{"id": 1, "width": 640, "height": 320}, {"id": 2, "width": 300, "height": 500}]
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}]
BOXES = [  # image_id, category_id, [x, y, w, h]
    (1, 1, [20, 30, 120, 80]),
    (1, 2, [300, 150, 200, 100]),
    (1, 3, [500, 10, 60, 40]),
    (2, 1, [10, 300, 150, 120]),
    (2, 2, [100, 20, 90, 200]),
    (2, 3, [200, 400, 50, 50]),
]


def ground_truth(boxes: list = BOXES) -> dict:
    annotations = [
        {"id": i, "image_id": im, "category_id": cat, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for i, (im, cat, b) in enumerate(boxes, start=1)
    ]
    return {"images": IMAGES, "categories": CATEGORIES, "annotations": annotations}


def detections(boxes: list, scores: list[float] | None = None) -> list[ImageDetections]:
    """Per image, xywh boxes turned into Model Garden's [ymin, xmin, ymax, xmax]."""
    scores = scores or [1.0] * len(boxes)
    out = []
    for image_id in sorted({b[0] for b in boxes}):
        rows = [(b, s) for b, s in zip(boxes, scores, strict=True) if b[0] == image_id]
        yxyx = [[y, x, y + h, x + w] for (_, _, (x, y, w, h)), _ in rows]
        out.append(
            ImageDetections(
                image_id=image_id,
                boxes=np.array(yxyx, dtype=np.float32),
                classes=np.array([b[1] for b, _ in rows]),
                scores=np.array([s for _, s in rows], dtype=np.float32),
            )
        )
    return out


def test_ground_truth_as_detections_scores_one_everywhere() -> None:
    result = evaluate(ground_truth(), coco_results(detections(BOXES)))
    assert result.ap == result.ap50 == result.ap75 == pytest.approx(1.0)
    assert result.per_class == pytest.approx({"cat": 1.0, "dog": 1.0, "bird": 1.0})
    assert result.per_class_ap50 == pytest.approx({"cat": 1.0, "dog": 1.0, "bird": 1.0})
    assert result.ar100 == pytest.approx(1.0)
    assert (result.images, result.detections) == (2, 6)
    assert result.ap_small is None  # no GT box under 32x32 px: pycocotools says -1


def test_shifting_one_class_by_half_its_width_drops_only_that_class() -> None:
    # IoU of a box and itself moved by half its width: (w/2 * h) / (3w/2 * h) = 1/3 < 0.5
    shifted = [
        (im, cat, [x + w / 2, y, w, h]) if cat == 2 else (im, cat, [x, y, w, h]) for im, cat, (x, y, w, h) in BOXES
    ]
    result = evaluate(ground_truth(), coco_results(detections(shifted)))
    assert result.per_class_ap50 == pytest.approx({"cat": 1.0, "dog": 0.0, "bird": 1.0})
    assert result.ap50 == pytest.approx(2 / 3)
    curve = result.pr_curves["dog"]
    assert len(curve[0]) == len(curve[1]) == 101 and max(curve[1]) == 0.0


def test_hand_checked_ap_with_a_higher_scored_false_positive() -> None:
    # One image, one class, GT A = [0, 0, 100, 100] and B = [400, 200, 100, 100] (xywh).
    # A false positive far from both at score 0.9, then a hit on A ([0, 0, 62.5, 100], IoU 0.625) at score 0.8.
    # At IoU 0.5, by score: FP, TP -> recall [0, .5], precision [0, .5]; made non-increasing from the right: [.5, .5].
    # pycocotools samples 101 recall points 0, .01, ..., 1: those <= .5 (51 of them) get .5, the 50 above get 0.
    # AP50 = 51 * 0.5 / 101 = 0.25248. The hit counts at IoU .5, .55, .6 only: AP = 3/10 * AP50.
    gt = {
        "images": [{"id": 7, "width": 640, "height": 320}],
        "categories": [{"id": 4, "name": "kite"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 4, "bbox": [0, 0, 100, 100], "area": 1e4, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 4, "bbox": [400, 200, 100, 100], "area": 1e4, "iscrowd": 0},
        ],
    }
    found = detections([(7, 4, [200, 0, 100, 100]), (7, 4, [0, 0, 62.5, 100])], scores=[0.9, 0.8])
    result = evaluate(gt, coco_results(found))
    assert result.ap50 == pytest.approx(51 * 0.5 / 101)
    assert result.per_class_ap50["kite"] == pytest.approx(51 * 0.5 / 101)
    assert result.ap == pytest.approx(0.3 * 51 * 0.5 / 101)
    assert result.ap75 == 0.0
    assert result.ar100 == pytest.approx(0.3 * 0.5)  # recall 1/2 at 3 of the 10 IoU thresholds


def test_box_order_is_ymin_xmin_ymax_xmax() -> None:
    found = ImageDetections(1, np.array([[150.0, 300.0, 250.0, 500.0]]), np.array([2]), np.array([0.7]))
    (row,) = coco_results([found])
    assert row == {"image_id": 1, "category_id": 2, "bbox": [300.0, 150.0, 200.0, 100.0], "score": pytest.approx(0.7)}
    assert type(row["image_id"]) is int and type(row["category_id"]) is int  # from numpy: JSON-ready, GT's type
    result = evaluate(ground_truth(BOXES[1:2]), [row])
    assert result.per_class_ap50["dog"] == pytest.approx(1.0)
    assert result.per_class_ap50["cat"] is None  # no GT of that class


def test_swapped_axes_would_miss() -> None:
    # The dog box (x 300..500, y 150..250 of the 640x320 image) given as [xmin, ymin, xmax, ymax]: read as
    # y 300..500, x 150..250, it does not overlap its object at all.
    swapped = ImageDetections(1, np.array([[300.0, 150.0, 500.0, 250.0]]), np.array([2]), np.array([0.7]))
    assert evaluate(ground_truth(BOXES[1:2]), coco_results([swapped])).ap50 == 0.0


def test_padding_rows_low_scores_and_negative_corners() -> None:
    boxes = np.array([[-5.0, -3.0, 10.0, 20.0], [1, 1, 5, 5], [0, 0, 0, 0], [8, 8, 4, 9]])
    found = ImageDetections(3, boxes, np.array([1, 1, 0, 1]), np.array([0.9, 0.1, 0.0, 0.8]))
    rows = coco_results([found], min_score=0.2)
    assert [r["bbox"] for r in rows] == [[0.0, 0.0, 20.0, 10.0]]  # clipped; low score, padding, ymax<ymin dropped


def test_no_detections_is_ap_zero() -> None:
    result = evaluate(ground_truth(), [])
    assert result.ap == result.ap50 == result.ar100 == 0.0
    assert result.per_class == {"cat": 0.0, "dog": 0.0, "bird": 0.0}
    assert result.detections == 0


def test_detections_of_unknown_classes_are_not_scored() -> None:
    rows = [*coco_results(detections(BOXES)), {"image_id": 1, "category_id": 99, "bbox": [0, 0, 9, 9], "score": 1.0}]
    result = evaluate(ground_truth(), rows)
    assert result.ap == pytest.approx(1.0) and result.detections == 6


def test_empty_ground_truth_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="nothing to evaluate"):
        evaluate({"images": IMAGES, "categories": CATEGORIES, "annotations": []}, [])


def test_result_image_ids_must_be_the_ground_truths() -> None:
    rows = coco_results(detections(BOXES))
    for row in rows:
        row["image_id"] = str(row["image_id"])
    with pytest.raises(InvalidInput, match=r"not in the ground truth, e\.g\. '1', '2'"):
        evaluate(ground_truth(), rows)


def test_ground_truth_left_as_it_was_and_no_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    gt = ground_truth()
    before = copy.deepcopy(gt)
    evaluate(gt, coco_results(detections(BOXES)))
    assert gt == before  # COCOeval writes "ignore" into annotations: it gets copies
    assert capsys.readouterr().out == ""


def test_as_dict_is_json_ready() -> None:
    result = evaluate(ground_truth(), coco_results(detections(BOXES[:4])))
    data = json.loads(json.dumps(result.as_dict()))
    # bird: 1 of its 2 GT boxes found, at precision 1: the 51 recall points 0..0.5 of 101 score 1
    assert data["per_class"]["bird"] == pytest.approx(51 / 101) and data["ap_small"] is None
    assert len(data["pr_iou50"]["recall"]) == 101 and set(data["pr_iou50"]["precision"]) == {"cat", "dog", "bird"}
    assert "pr_curves" not in data


def test_pr_plot_is_a_png() -> None:
    shifted = [(im, cat, [x + w / 4, y, w, h]) for im, cat, (x, y, w, h) in BOXES]
    result = evaluate(ground_truth(), coco_results(detections(BOXES[:3] + shifted[3:])))
    png = pr_plot(result)
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.size == (640, 480)
    empty = EvalResult(None, None, None, None, None, None, None, {}, {}, 0, 0)
    with Image.open(io.BytesIO(pr_plot(empty))) as picture:
        assert picture.format == "PNG"


def test_draw_predictions_fits_the_bound_and_draws_the_box() -> None:
    source = io.BytesIO()
    Image.new("RGB", (960, 480), (128, 128, 128)).save(source, "JPEG")
    found = ImageDetections(
        1, np.array([[120.0, 240.0, 360.0, 720.0], [0, 0, 10, 10]]), np.array([2, 1]), np.array([0.9, 0.1])
    )
    jpeg = draw_predictions(source.getvalue(), found, {2: "dog"}, min_score=0.3, size=480)
    with Image.open(io.BytesIO(jpeg)) as picture:
        assert picture.format == "JPEG" and picture.size == (480, 240)
        pixels = picture.convert("RGB")
        bottom_edge = pixels.getpixel((240, 179))  # the box's 3-px bottom side: y 360 -> 180 at half size, drawn inward
        inside = pixels.getpixel((240, 150))
    assert np.abs(np.subtract(bottom_edge, colour(2))).max() < 40
    assert np.abs(np.subtract(inside, (128, 128, 128))).max() < 10


def model_garden_eval_groundtruths() -> dict[str, np.ndarray]:
    """Two images through RetinaNet's own eval parser, stacked as a batch the way its COCO evaluator collects them."""
    import tensorflow as tf
    from official.vision.dataloaders import retinanet_input

    parser = retinanet_input.Parser(
        output_size=[64, 64], min_level=3, max_level=4, num_scales=1, aspect_ratios=[1.0], anchor_size=4.0
    )
    examples = []
    for source_id, (height, width), boxes in [
        ("1", (100, 200), [[0.1, 0.1, 0.5, 0.4], [0.2, 0.5, 0.9, 0.9]]),
        ("2", (300, 150), [[0.3, 0.2, 0.6, 0.8]]),
    ]:
        n = len(boxes)
        data = {
            "image": tf.zeros([height, width, 3], tf.uint8),
            "source_id": tf.constant(source_id),
            "height": tf.constant(height),
            "width": tf.constant(width),
            "groundtruth_classes": tf.constant([1, 2][:n], tf.int64),
            "groundtruth_boxes": tf.constant(boxes, tf.float32),
            "groundtruth_area": tf.constant([1000.0] * n),
            "groundtruth_is_crowd": tf.zeros([n], tf.bool),
        }
        _, labels = parser._parse_eval_data(data)
        examples.append({k: v.numpy() for k, v in labels["groundtruths"].items()})
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


@pytest.mark.slow
def test_model_garden_coco_evaluator_breaks_on_numpy_2_4_and_ours_does_not() -> None:
    from official.vision.evaluation import coco_utils

    batch = model_garden_eval_groundtruths()
    assert batch["num_detections"].shape == (2, 1)  # tf.shape(classes) per image: (1,), not a scalar
    with pytest.raises(TypeError, match="only 0-dimensional arrays") as trap:
        coco_utils.convert_groundtruths_to_coco_dataset({k: [v] for k, v in batch.items()})
    assert trap.traceback[-1].path.name == "coco_utils.py"  # its range(int(num_instances)), not our test code

    images, annotations, found = [], [], []
    for j, image_id in enumerate(batch["source_id"]):
        n = int(batch["num_detections"][j].reshape(-1)[0])
        boxes = batch["boxes"][j, :n]  # [ymin, xmin, ymax, xmax] in pixels of the original image
        images.append({"id": int(image_id), "height": int(batch["height"][j]), "width": int(batch["width"][j])})
        found.append(ImageDetections(int(image_id), boxes, batch["classes"][j, :n], np.ones(n)))
        for (y0, x0, y1, x1), cls in zip(boxes.tolist(), batch["classes"][j, :n].tolist(), strict=True):
            bbox = [x0, y0, x1 - x0, y1 - y0]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": int(image_id), "category_id": cls, "bbox": bbox}
            )
    gt = {"images": images, "categories": CATEGORIES[:2], "annotations": annotations}
    result = evaluate(gt, coco_results(found))
    assert result.per_class_ap50 == pytest.approx({"cat": 1.0, "dog": 1.0}) and result.ap == pytest.approx(1.0)
    assert result.images == 2 and result.detections == 3
