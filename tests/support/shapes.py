"""A learnable detection task for training tests and benches: filled shapes on textured backgrounds.

Each class is a shape (circle, square, triangle, diamond, cross); colours and backgrounds vary, so a detector
must learn shape. Written as the converter would leave it (coco_<split>.json + an image folder), so the
recorder and the trainer run on it unchanged.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "diamond", "cross")


def draw(pen: ImageDraw.ImageDraw, shape: str, x: int, y: int, s: int, colour: tuple[int, int, int]) -> None:
    if shape == "circle":
        pen.ellipse([x, y, x + s - 1, y + s - 1], fill=colour)
    elif shape == "square":
        pen.rectangle([x, y, x + s - 1, y + s - 1], fill=colour)
    elif shape == "triangle":
        pen.polygon([(x + s / 2, y), (x + s - 1, y + s - 1), (x, y + s - 1)], fill=colour)
    elif shape == "diamond":
        pen.polygon([(x + s / 2, y), (x + s - 1, y + s / 2), (x + s / 2, y + s - 1), (x, y + s / 2)], fill=colour)
    else:  # cross
        third = s // 3
        pen.rectangle([x + third, y, x + 2 * third, y + s - 1], fill=colour)
        pen.rectangle([x, y + third, x + s - 1, y + 2 * third], fill=colour)


def make_split(
    folder: Path, count: int, classes: tuple[str, ...], seed: int, size: int = 128, first_id: int = 1
) -> dict:
    """`count` images with 1-3 non-overlapping shapes each, as a COCO dict (category ids from 1 in `classes` order)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images: list[dict] = []
    annotations: list[dict] = []
    for index in range(count):
        image_id = first_id + index
        base = noise.integers(0, 70, size=(size // 8, size // 8, 3), dtype=np.uint8)
        picture = Image.fromarray(base).resize((size, size), Image.Resampling.BILINEAR)
        pen = ImageDraw.Draw(picture)
        taken: list[tuple[int, int, int]] = []
        for _ in range(rng.randint(1, 3)):
            placed = _place(rng, size, taken)
            if placed is None:
                continue
            x, y, s = placed
            category = rng.randrange(len(classes))
            colour = (rng.randint(120, 255), rng.randint(120, 255), rng.randint(120, 255))
            draw(pen, classes[category], x, y, s, colour)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category + 1,
                    "bbox": [x, y, s, s],
                    "area": s * s,
                    "iscrowd": 0,
                }
            )
        name = f"{seed}-{image_id:05d}.jpg"
        picture.save(folder / name, quality=92)
        images.append({"id": image_id, "file_name": name, "width": size, "height": size})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(classes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _place(rng: random.Random, size: int, taken: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
    for _ in range(20):
        s = rng.randint(size // 5, size // 2)
        x, y = rng.randint(0, size - s), rng.randint(0, size - s)
        if all(x + s <= tx or tx + ts <= x or y + s <= ty or ty + ts <= y for tx, ty, ts in taken):
            taken.append((x, y, s))
            return x, y, s
    return None


def write_task(root: Path, classes: tuple[str, ...], train: int, val: int, seed: int, size: int = 128) -> Path:
    """labels/coco_train.json + coco_val.json and images/ under `root`; returns `root`."""
    labels = root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": make_split(root / "images", train, classes, seed, size),
        "val": make_split(root / "images", val, classes, seed + 1, size, first_id=train + 1),
    }
    for split, coco in splits.items():
        (labels / f"coco_{split}.json").write_text(json.dumps(coco))
    return root
