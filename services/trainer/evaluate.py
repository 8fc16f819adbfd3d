"""COCO box mAP of a trained detector with pycocotools directly, a PR plot and pictures of its predictions.

Model Garden's own COCO evaluator breaks on NumPy >= 2.4 (FORMATS.md, "Known problems"), so the trainer runs the
exported SavedModel itself and hands its detections here. Detections of a category the ground truth does not list
are kept by `coco_results` (it does not know the ground truth) and ignored by `evaluate`, as pycocotools ignores
them: only the ground truth's categories are scored.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageOps
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from transferline.errors import InvalidInput

SUMMARY = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")  # COCOeval.stats[0:6]; ar100 is stats[8]
PALETTE = ((255, 40, 40), (40, 200, 255), (255, 200, 0), (60, 220, 60), (255, 80, 255), (255, 140, 0), (0, 255, 190))


@dataclass(frozen=True)
class ImageDetections:
    """One image's detections as Model Garden's serving signature gives them (padding rows may stay in)."""

    image_id: int  # the COCO image id
    boxes: np.ndarray  # (N, 4) [ymin, xmin, ymax, xmax] in pixels of the original (upright) image
    classes: np.ndarray  # (N,) int category ids
    scores: np.ndarray  # (N,) float


@dataclass
class EvalResult:
    """COCO box metrics; None where pycocotools says -1 (no ground truth of that kind)."""

    ap: float | None
    ap50: float | None
    ap75: float | None
    ap_small: float | None
    ap_medium: float | None
    ap_large: float | None
    ar100: float | None
    per_class: dict[str, float | None]  # AP@[.5:.95], area all, maxDets 100
    per_class_ap50: dict[str, float | None]
    images: int  # ground-truth images
    detections: int  # result rows scored (in a ground-truth category)
    pr_curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # IoU .5: recall, precision

    def as_dict(self) -> dict[str, Any]:
        """metrics.json: the numbers, and the PR curves once as a shared 101-point recall grid + precision per class."""
        out: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "pr_curves"}
        recall = next(iter(self.pr_curves.values()))[0] if self.pr_curves else []
        precision = {name: [round(p, 4) for p in curve[1]] for name, curve in self.pr_curves.items()}
        out["pr_iou50"] = {"recall": [round(r, 4) for r in recall], "precision": precision}
        return out


def coco_results(detections: Iterable[ImageDetections], min_score: float = 0.0) -> list[dict]:
    """COCO result rows (bbox [x, y, w, h]), scores >= min_score; boxes of no positive width and height are dropped
    (Model Garden pads to a fixed count with all-zero boxes), negative corners are clipped to 0."""
    rows = []
    for item in detections:
        boxes = np.asarray(item.boxes, dtype=np.float64).reshape(-1, 4)
        ymin, xmin = np.maximum(boxes[:, 0], 0.0), np.maximum(boxes[:, 1], 0.0)
        width, height = boxes[:, 3] - xmin, boxes[:, 2] - ymin
        classes, scores = np.asarray(item.classes).reshape(-1), np.asarray(item.scores, dtype=np.float64).reshape(-1)
        keep = (width > 0) & (height > 0) & (scores >= min_score)
        for i in np.flatnonzero(keep):
            bbox = [float(xmin[i]), float(ymin[i]), float(width[i]), float(height[i])]
            rows.append(
                {
                    "image_id": int(item.image_id),
                    "category_id": int(classes[i]),
                    "bbox": bbox,
                    "score": float(scores[i]),
                }
            )
    return rows


def evaluate(ground_truth: dict, results: list[dict]) -> EvalResult:
    """COCO box evaluation of `results` (from `coco_results`) against a COCO dict such as the converter's coco_val.json.

    InvalidInput when the ground truth has no annotations, or a result names an image it does not have.
    """
    gt = _ground_truth(ground_truth)
    results = _scored(gt, results)
    with contextlib.redirect_stdout(io.StringIO()):
        run = COCOeval(gt, _as_coco(gt, results), "bbox")
        run.evaluate()
        run.accumulate()
        run.summarize()
    stats = [_metric(float(s)) for s in run.stats]
    names = {int(c["id"]): str(c["name"]) for c in gt.dataset["categories"]}
    precision = run.eval["precision"]  # [T IoUs, R recall points, K categories, A areas, M maxDets]
    per_class, per_class_ap50, curves = {}, {}, {}
    for k, cat in enumerate(run.params.catIds):
        name = names[cat]
        per_class[name] = _mean(precision[:, :, k, 0, -1])
        per_class_ap50[name] = _mean(precision[0, :, k, 0, -1])
        if per_class_ap50[name] is not None:
            curves[name] = ([float(r) for r in run.params.recThrs], [float(p) for p in precision[0, :, k, 0, -1]])
    summary = dict(zip(SUMMARY, stats[:6], strict=True))
    return EvalResult(
        **summary,
        ar100=stats[8],
        per_class=per_class,
        per_class_ap50=per_class_ap50,
        images=len(gt.getImgIds()),
        detections=len(results),
        pr_curves=curves,
    )


def _ground_truth(ground_truth: dict) -> COCO:
    """An indexed COCO over copies of the annotations (COCOeval writes into them), area and iscrowd defaulted."""
    annotations = ground_truth.get("annotations") or []
    if not annotations:
        raise InvalidInput("the ground truth has no annotations: there is nothing to evaluate")
    copies = []
    for ann in annotations:
        row = {"iscrowd": 0, **ann}
        row.setdefault("area", float(ann["bbox"][2] * ann["bbox"][3]))
        copies.append(row)
    gt = COCO()
    gt.dataset = {"images": list(ground_truth.get("images", [])), "categories": list(ground_truth["categories"])}
    gt.dataset["annotations"] = copies
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _scored(gt: COCO, results: list[dict]) -> list[dict]:
    """The results in a ground-truth category; InvalidInput naming images (ids of its type) the ground truth lacks."""
    images = set(gt.getImgIds())
    unknown = {row["image_id"] for row in results} - images
    if unknown:
        shown = sorted(map(repr, unknown))[:5]
        raise InvalidInput(f"{len(unknown)} result image ids are not in the ground truth, e.g. {', '.join(shown)}")
    categories = set(gt.getCatIds())
    return [row for row in results if row["category_id"] in categories]


def _as_coco(gt: COCO, results: list[dict]) -> COCO:
    """What `COCO.loadRes` builds for boxes, but also for no results at all (loadRes raises on an empty list)."""
    dt = COCO()
    annotations = []
    for i, row in enumerate(results, start=1):
        width, height = row["bbox"][2:4]
        annotations.append({**row, "id": i, "area": width * height, "iscrowd": 0})
    dt.dataset = {"images": list(gt.dataset["images"]), "categories": list(gt.dataset["categories"])}
    dt.dataset["annotations"] = annotations
    dt.createIndex()
    return dt


def _metric(value: float) -> float | None:
    return None if value < 0 else value  # pycocotools' -1: no ground truth of that kind


def _mean(precision: np.ndarray) -> float | None:
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else None


def pr_plot(result: EvalResult) -> bytes:
    """A PNG of the precision-recall curve (IoU 0.5, all areas, 100 detections) of every class, AP50 in the legend."""
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(figure)  # draws off-screen; pyplot (and any GUI backend) is never touched
    axes = figure.add_subplot()
    for name, (recall, precision) in result.pr_curves.items():
        axes.plot(recall, precision, drawstyle="steps-post", label=f"{name} (AP50 {result.per_class_ap50[name]:.3f})")
    if not result.pr_curves:
        axes.text(0.5, 0.5, "no class has ground truth", ha="center", va="center")
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
    axes.set_title("Precision-recall at IoU 0.5" + (f", mAP50 {result.ap50:.3f}" if result.ap50 is not None else ""))
    axes.grid(alpha=0.3)
    if result.pr_curves:
        axes.legend(loc="lower left", fontsize="small")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def colour(class_id: int) -> tuple[int, int, int]:
    """The box colour of a class in `draw_predictions`."""
    return PALETTE[class_id % len(PALETTE)]


def draw_predictions(
    image: bytes, detections: ImageDetections, names: dict[int, str], min_score: float = 0.3, size: int = 480
) -> bytes:
    """A JPEG (longest side <= size) of the upright picture with detections >= min_score: box, class name, score."""
    with Image.open(io.BytesIO(image)) as picture:
        canvas = ImageOps.exif_transpose(picture).convert("RGB")
    scale = min(1.0, size / max(canvas.size))
    canvas.thumbnail((size, size))
    pen = ImageDraw.Draw(canvas)
    for row in coco_results([detections], min_score):
        x, y, w, h = (v * scale for v in row["bbox"])
        cls = row["category_id"]
        pen.rectangle([x, y, x + w, y + h], outline=colour(cls), width=3)
        label = f"{names.get(cls, str(cls))} {row['score']:.2f}"
        left, top, right, bottom = pen.textbbox((x + 3, y + 2), label)
        pen.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=colour(cls))
        pen.text((x + 3, y + 2), label, fill=(0, 0, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85, subsampling=0)  # 4:4:4 keeps thin coloured lines
    return out.getvalue()
