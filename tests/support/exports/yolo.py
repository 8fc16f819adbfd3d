"""A `GtDataset` as YOLO txt: classes.txt plus labels/<stem>.txt, boxes as `class cx cy w h` and polygons as
Ultralytics segmentation lines `class x1 y1 x2 y2 ...`, all normalised to the image size."""

from __future__ import annotations

from tests.support.labels import GtDataset, GtImage, GtObject


def write(dataset: GtDataset) -> dict[str, bytes]:
    files = {"classes.txt": ("\n".join(dataset.categories) + "\n").encode()}
    for image in dataset.images:
        stem = image.file_name.rsplit(".", 1)[0]
        lines = [_line(obj, image, dataset.categories) for obj in image.objects]
        files[f"labels/{stem}.txt"] = "".join(line + "\n" for line in lines).encode()
    return files


def _line(obj: GtObject, image: GtImage, categories: list[str]) -> str:
    index = categories.index(obj.category)
    if obj.polygon:
        values = [v for x, y in obj.polygon for v in (x / image.width, y / image.height)]
    else:
        x, y, w, h = obj.box
        values = [(x + w / 2) / image.width, (y + h / 2) / image.height, w / image.width, h / image.height]
    return " ".join([str(index), *(f"{v:.12g}" for v in values)])
