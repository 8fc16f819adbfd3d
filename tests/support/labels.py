"""Generated ground truth for converter tests: images of known sizes with known boxes and polygons.

Export writers in tests/support/exports/ render a `GtDataset` in each labelling tool's documented shape, so a
test can convert it back and compare with the truth.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

Point = tuple[float, float]


@dataclass(frozen=True)
class GtObject:
    category: str
    box: tuple[int, int, int, int]  # x, y, width, height in pixels from the top-left
    polygon: list[Point] | None = None  # when set, `box` is exactly its bounds


@dataclass
class GtImage:
    file_name: str
    width: int
    height: int
    seed: int
    objects: list[GtObject] = field(default_factory=list)

    def jpeg(self, quality: int = 90) -> bytes:
        """A picture unique to `seed` (so perceptual hashes differ), of the declared size."""
        rng = np.random.default_rng(self.seed)
        coarse = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        picture = Image.fromarray(coarse).resize((self.width, self.height), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality)
        return out.getvalue()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg()).hexdigest()


@dataclass
class GtDataset:
    images: list[GtImage]
    categories: list[str]

    def pictures(self) -> dict[str, bytes]:
        return {image.file_name: image.jpeg() for image in self.images}

    def write_images(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for image in self.images:
            (folder / image.file_name).write_bytes(image.jpeg())
        return folder


def make_dataset(
    seed: int = 0,
    images: int = 6,
    categories: tuple[str, ...] = ("bottle", "can", "cup"),
    polygons: bool = True,
    max_objects: int = 4,
) -> GtDataset:
    """Images 64-200 px a side, each with 1..max_objects objects fully inside it; some objects are polygons."""
    rng = random.Random(seed)
    result = []
    for index in range(images):
        width, height = rng.randint(64, 200), rng.randint(64, 200)
        image = GtImage(f"img_{index:04d}.jpg", width, height, seed * 10_000 + index)
        for _ in range(rng.randint(1, max_objects)):
            image.objects.append(_object(rng, rng.choice(categories), width, height, polygons))
        result.append(image)
    return GtDataset(result, list(categories))


def _object(rng: random.Random, category: str, width: int, height: int, polygons: bool) -> GtObject:
    w, h = rng.randint(8, width // 2), rng.randint(8, height // 2)
    x, y = rng.randint(0, width - w), rng.randint(0, height - h)
    if not (polygons and rng.random() < 0.5):
        return GtObject(category, (x, y, w, h))
    # A convex pentagon touching all four sides of its box, so its bounds are the box exactly.
    mid_x, mid_y = x + w // 2, y + h // 2
    polygon = [
        (float(mid_x), float(y)),
        (float(x + w), float(mid_y)),
        (float(x + w), float(y + h)),
        (float(x), float(y + h)),
        (float(x), float(mid_y)),
    ]
    return GtObject(category, (x, y, w, h), polygon)


def truth_coco(dataset: GtDataset) -> dict:
    """The dataset as COCO, for COCOeval against a converter's output (matched by file name)."""
    categories = [{"id": i, "name": name} for i, name in enumerate(sorted(dataset.categories), start=1)]
    ids = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    for image_id, image in enumerate(dataset.images, start=1):
        images.append({"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height})
        for obj in image.objects:
            x, y, w, h = obj.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[obj.category],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": categories}
