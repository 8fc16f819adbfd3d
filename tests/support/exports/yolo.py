"""A `GtDataset` as YOLO txt: classes.txt plus labels/<stem>.txt, boxes as `class cx cy w h` and polygons as
Ultralytics segmentation lines `class x1 y1 x2 y2 ...`, all normalised to the image size. `write_roboflow` writes
Roboflow's YOLO download instead: data.yaml, and per split <split>/images/<name> beside <split>/labels/<stem>.txt."""

from __future__ import annotations

from tests.support.labels import GtDataset, GtImage, GtObject


def write(dataset: GtDataset) -> dict[str, bytes]:
    files = {"classes.txt": ("\n".join(dataset.categories) + "\n").encode()}
    files.update(_labels(dataset, "labels", dataset.categories))
    return files


def write_roboflow(splits: dict[str, GtDataset]) -> dict[str, bytes]:
    categories = list(dict.fromkeys(name for dataset in splits.values() for name in dataset.categories))
    names = ", ".join(f"'{name}'" for name in categories)
    files = {
        "data.yaml": f"train: ../train/images\nval: ../valid/images\nnc: {len(categories)}\nnames: [{names}]\n".encode()
    }
    files["README.roboflow.txt"] = b"Exported from roboflow.com\n"
    for split, dataset in splits.items():
        files.update({f"{split}/images/{name}": data for name, data in dataset.pictures().items()})
        files.update(_labels(dataset, f"{split}/labels", categories))
    return files


def _labels(dataset: GtDataset, folder: str, categories: list[str]) -> dict[str, bytes]:
    files = {}
    for image in dataset.images:
        stem = image.file_name.rsplit(".", 1)[0]
        lines = [_line(obj, image, categories) for obj in image.objects]
        files[f"{folder}/{stem}.txt"] = "".join(line + "\n" for line in lines).encode()
    return files


def _line(obj: GtObject, image: GtImage, categories: list[str]) -> str:
    index = categories.index(obj.category)
    if obj.polygon:
        values = [v for x, y in obj.polygon for v in (x / image.width, y / image.height)]
    else:
        x, y, w, h = obj.box
        values = [(x + w / 2) / image.width, (y + h / 2) / image.height, w / image.width, h / image.height]
    return " ".join([str(index), *(f"{v:.12g}" for v in values)])
