"""Draws the demo's sample: pictures of household objects on varied backgrounds, with their labels as a Labelbox
Export v2 NDJSON file, so `make run` has a small, learnable dataset offline. Deterministic for a seed.

Two tasks share the drawing code. `sample` (bottle, can; committed here) is what the demo collects, labels and
fine-tunes on. `base` (ball, box, cup on other backgrounds) is the related task the demo's base detector was
pretrained on (deploy/local/base/make-base.sh), standing in for COCO, which cannot be fetched offline.

Written for `sample`: images/<class>-<n>.jpg, export.ndjson (global_key = the image's sha256, as the downloader
names the data rows it hands to Labelbox in images/labelbox_import.json), urls.txt (served images the demo
lists), openverse.json (the query and Openverse's answer to it, naming the others). `{host}` in both stands for
the demo's server.

Usage: python deploy/local/sample/generate.py [--task sample|base] [--out DIR] [--seed N] [--images N]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[int, int, int]
TASKS = {"sample": ("bottle", "can"), "base": ("ball", "box", "cup")}
HERE = Path(__file__).resolve().parent
QUERY = "bottles and cans"  # what the demo searches; its answer lists every openverse_share-th image
OPENVERSE_SHARE = 4
ANONYMOUS_PAGE = 20  # one Openverse page without a token
PROJECT = "cdemo0000project"


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int

    def overlaps(self, other: Box, margin: int = 4) -> bool:
        return not (
            self.left + self.width + margin <= other.left
            or other.left + other.width + margin <= self.left
            or self.top + self.height + margin <= other.top
            or other.top + other.height + margin <= self.top
        )


def shade(colour: Colour, factor: float) -> Colour:
    r, g, b = (max(0, min(255, int(c * factor))) for c in colour)
    return r, g, b


def bottle(pen: ImageDraw.ImageDraw, box: Box, rng: random.Random) -> None:
    """Tall glass: green, brown or blue body, shoulders, a narrow neck and a cap."""
    glass = rng.choice([(30, 140, 60), (120, 70, 20), (60, 110, 190), (20, 100, 40)])
    x, y, w, h = box.left, box.top, box.width, box.height
    neck_w, neck_h, body_top = max(3, w // 3), h // 4, y + h * 2 // 5
    cx = x + w // 2
    pen.rounded_rectangle([x, body_top, x + w - 1, y + h - 1], radius=max(2, w // 5), fill=glass)
    pen.polygon([(x, body_top + w // 4), (cx - neck_w // 2, y + neck_h), (cx + neck_w // 2, y + neck_h),
                 (x + w - 1, body_top + w // 4)], fill=glass)  # fmt: skip
    pen.rectangle([cx - neck_w // 2, y + h // 10, cx + neck_w // 2, y + neck_h], fill=glass)
    pen.rectangle(
        [cx - neck_w // 2 - 1, y, cx + neck_w // 2 + 1, y + h // 10], fill=rng.choice([(200, 30, 30), (230, 200, 40)])
    )
    pen.rectangle([x + 2, body_top + h // 6, x + w - 3, body_top + h // 3], fill=(235, 230, 210))  # the label
    pen.line([x + w // 4, body_top + 2, x + w // 4, y + h - 4], fill=shade(glass, 1.8), width=max(1, w // 10))


def can(pen: ImageDraw.ImageDraw, box: Box, rng: random.Random) -> None:
    """Short metal cylinder: a bright body with a band, elliptic silver lid and rim."""
    metal = rng.choice([(210, 30, 40), (30, 80, 200), (230, 190, 30), (40, 170, 80), (150, 150, 160)])
    x, y, w, h = box.left, box.top, box.width, box.height
    lid = max(3, h // 7)
    pen.rectangle([x, y + lid // 2, x + w - 1, y + h - 1 - lid // 2], fill=metal)
    pen.ellipse([x, y + h - lid - 1, x + w - 1, y + h - 1], fill=metal)
    pen.ellipse([x, y, x + w - 1, y + lid], fill=(200, 200, 205), outline=(120, 120, 125))
    band = y + h // 2
    pen.rectangle([x, band - h // 10, x + w - 1, band + h // 10], fill=(245, 245, 245))
    pen.line([x + w // 5, y + lid, x + w // 5, y + h - lid], fill=shade(metal, 1.6), width=max(1, w // 8))


def ball(pen: ImageDraw.ImageDraw, box: Box, rng: random.Random) -> None:
    colour = rng.choice([(220, 60, 30), (240, 240, 240), (250, 200, 0), (60, 160, 230)])
    x, y, w, _ = box.left, box.top, box.width, box.height
    pen.ellipse([x, y, x + w - 1, y + w - 1], fill=colour, outline=shade(colour, 0.5))
    pen.chord([x + w // 3, y + 2, x + w * 2 // 3, y + w - 3], 80, 280, outline=shade(colour, 0.6), width=2)
    pen.ellipse([x + w // 4, y + w // 5, x + w // 2, y + w * 2 // 5], fill=shade(colour, 1.5))


def cardboard(pen: ImageDraw.ImageDraw, box: Box, rng: random.Random) -> None:
    colour = rng.choice([(190, 140, 80), (170, 120, 70), (215, 175, 110)])
    x, y, w, h = box.left, box.top, box.width, box.height
    pen.rectangle([x, y, x + w - 1, y + h - 1], fill=colour, outline=shade(colour, 0.6), width=2)
    pen.rectangle([x + w * 2 // 5, y, x + w * 3 // 5, y + h - 1], fill=shade(colour, 0.8))  # tape
    pen.line([x, y + h // 3, x + w - 1, y + h // 3], fill=shade(colour, 0.7), width=1)


def cup(pen: ImageDraw.ImageDraw, box: Box, rng: random.Random) -> None:
    colour = rng.choice([(240, 240, 235), (90, 160, 200), (200, 60, 90), (80, 80, 80)])
    x, y, w, h = box.left, box.top, box.width, box.height
    body = w * 3 // 4
    pen.ellipse([x + body - w // 8, y + h // 5, x + w - 1, y + h * 3 // 5], outline=colour, width=max(2, w // 10))
    rim = max(2, h // 12)
    pen.polygon(
        [(x, y + rim), (x + body, y + rim), (x + body - w // 10, y + h - 1), (x + w // 10, y + h - 1)], fill=colour
    )
    pen.ellipse([x, y, x + body, y + 2 * rim], fill=shade(colour, 0.6))


DRAW = {"bottle": bottle, "can": can, "ball": ball, "box": cardboard, "cup": cup}
ASPECT = {"bottle": (2.2, 3.2), "can": (1.3, 1.8), "ball": (1.0, 1.0), "box": (0.6, 1.1), "cup": (0.9, 1.2)}
HEIGHT = {"bottle": (0.45, 0.8), "can": (0.3, 0.55)}  # of the shorter side; others (0.3, 0.6)


def background(task: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """The sample's scenes (table tops, walls, shelves) differ from the base task's (noise, blobs, grids)."""
    w, h = size
    picture = Image.new("RGB", size)
    pen = ImageDraw.Draw(picture)
    first = (rng.randint(40, 220), rng.randint(40, 220), rng.randint(40, 220))
    second = (rng.randint(40, 220), rng.randint(40, 220), rng.randint(40, 220))
    style = rng.choice(["gradient", "stripes", "table", "tiles"] if task == "sample" else ["noise", "blobs", "grid"])
    if style == "gradient":
        for row in range(h):
            t = row / max(1, h - 1)
            pen.line([0, row, w, row], fill=tuple(int(a + (b - a) * t) for a, b in zip(first, second, strict=True)))
    elif style == "stripes":
        step = rng.randint(6, 20)
        for x in range(-h, w, step * 2):
            pen.polygon([(x, 0), (x + step, 0), (x + step + h, h), (x + h, h)], fill=first)
        picture.paste(Image.new("RGB", size, second), mask=Image.new("L", size, 140))
    elif style == "table":
        horizon = rng.randint(h // 3, h * 2 // 3)
        pen.rectangle([0, 0, w, horizon], fill=first)
        pen.rectangle([0, horizon, w, h], fill=second)
        for y in range(horizon, h, rng.randint(5, 12)):
            pen.line([0, y, w, y], fill=shade(second, 0.85))
    elif style == "tiles":
        step = rng.randint(14, 32)
        for x in range(0, w, step):
            for y in range(0, h, step):
                pen.rectangle([x, y, x + step - 2, y + step - 2], fill=first if (x + y) // step % 2 else second)
    elif style == "noise":
        grain = rng.choice([2, 3, 4])  # drawn from `rng`, not PIL's own noise, so a seed repeats it
        noise = Image.frombytes("RGB", (w // grain, h // grain), rng.randbytes(3 * (w // grain) * (h // grain)))
        picture = Image.blend(noise.resize(size), Image.new("RGB", size, first), 0.6)
    elif style == "blobs":
        pen.rectangle([0, 0, w, h], fill=first)
        for _ in range(rng.randint(5, 12)):
            cx, cy, r = rng.randint(0, w), rng.randint(0, h), rng.randint(5, max(6, w // 5))
            pen.ellipse(
                [cx - r, cy - r, cx + r, cy + r], fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
            )
    else:  # grid
        pen.rectangle([0, 0, w, h], fill=first)
        step = rng.randint(10, 24)
        for x in range(0, w, step):
            pen.line([x, 0, x, h], fill=second, width=2)
        for y in range(0, h, step):
            pen.line([0, y, w, y], fill=second, width=2)
    return picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))


def place(kind: str, size: tuple[int, int], taken: list[Box], rng: random.Random) -> Box | None:
    """An object of about a third to three quarters of the shorter side (at the trainer's 128 px the smallest
    anchors, 32 px, still fit), not touching one already drawn."""
    w, h = size
    for _ in range(30):
        low, high = ASPECT[kind]
        aspect = rng.uniform(low, high)
        height = int(min(w, h) * rng.uniform(*HEIGHT.get(kind, (0.3, 0.6))))
        width = max(8, int(height / aspect))
        if width >= w or height >= h:
            continue
        box = Box(rng.randint(0, w - width), rng.randint(0, h - height), width, height)
        if not any(box.overlaps(other) for other in taken):
            taken.append(box)
            return box
    return None


@dataclass(frozen=True)
class Picture:
    name: str
    data: bytes
    width: int
    height: int
    objects: list[tuple[str, Box]]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def picture(task: str, index: int, rng: random.Random) -> Picture:
    classes = TASKS[task]
    size = (rng.randint(160, 240), rng.randint(150, 224))
    image = background(task, size, rng)
    pen = ImageDraw.Draw(image)
    main = classes[index % len(classes)]  # every class gets its share; the name says the first object's class
    kinds = [main] + [rng.choice(classes) for _ in range(rng.choice([0, 0, 1, 1, 2]))]
    objects: list[tuple[str, Box]] = []
    taken: list[Box] = []
    for kind in kinds:
        box = place(kind, size, taken, rng)
        if box is not None:
            DRAW[kind](pen, box, rng)
            objects.append((kind, box))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(70, 85))
    return Picture(f"{main}-{index // len(classes) + 1:03d}.jpg", out.getvalue(), size[0], size[1], objects)


def export_row(index: int, item: Picture) -> dict:
    """A Labelbox Export v2 data row as `project.export()` streams it (FORMATS.md 1b), boxes drawn by a person."""
    objects = [
        {
            "feature_id": f"f{index:04d}{n}",
            "feature_schema_id": f"schema-{kind}",
            "name": kind,
            "value": kind,
            "annotation_kind": "ImageBoundingBox",
            "bounding_box": {"top": box.top, "left": box.left, "height": box.height, "width": box.width},
            "classifications": [],
        }
        for n, (kind, box) in enumerate(item.objects)
    ]
    label = {"id": f"label{index:04d}", "annotations": {"objects": objects, "classifications": [], "relationships": []}}
    return {
        "data_row": {
            "id": f"row{index:04d}",
            "global_key": item.sha256,
            "external_id": item.name,
            "row_data": f"https://sample.transferline.example/images/{item.name}",
        },
        "media_attributes": {"height": item.height, "width": item.width, "mime_type": "image/jpeg"},
        "projects": {PROJECT: {"name": "transferline demo", "labels": [label]}},
    }


def openverse_answer(names: list[str]) -> dict:
    """Openverse's /v1/images/ answer (FORMATS.md §7) naming the served images, one page."""
    results: list[dict[str, object]] = [
        {
            "id": hashlib.sha256(name.encode()).hexdigest()[:32],
            "title": name.removesuffix(".jpg").replace("-", " "),
            "url": "{host}/images/" + name,
            "thumbnail": "{host}/images/" + name,
            "width": None,
            "height": None,
            "filetype": "jpg",
            "license": "cc0",
            "license_version": "1.0",
            "license_url": "https://creativecommons.org/publicdomain/zero/1.0/",
            "creator": "transferline sample generator",
            "creator_url": None,
            "attribution": f'"{name}" by the transferline sample generator is marked with CC0 1.0.',
            "provider": "transferline",
            "source": "transferline",
            "foreign_landing_url": "{host}/images/" + name,
            "category": "illustration",
            "tags": [],
            "mature": False,
        }
        for name in names
    ]
    return {"result_count": len(results), "page_count": 1, "page_size": ANONYMOUS_PAGE, "page": 1, "results": results}


def generate(task: str, out: Path, seed: int, count: int) -> list[Picture]:
    rng = random.Random(seed)
    items = [picture(task, index, rng) for index in range(count)]
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for stale in images.glob("*.jpg"):
        stale.unlink()
    for item in items:
        (images / item.name).write_bytes(item.data)
    rows = [json.dumps(export_row(index + 1, item)) for index, item in enumerate(items)]
    (out / "export.ndjson").write_text("\n".join(rows) + "\n")
    searched = [item.name for item in items[::OPENVERSE_SHARE]][:ANONYMOUS_PAGE]
    listed = [item.name for item in items if item.name not in searched]
    (out / "urls.txt").write_text("".join(f"{{host}}/images/{name}\n" for name in listed))
    played = {"query": QUERY, "response": openverse_answer(searched)}
    (out / "openverse.json").write_text(json.dumps(played, indent=1) + "\n")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="sample")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--images", type=int, default=80)
    args = parser.parse_args()
    items = generate(args.task, args.out, args.seed, args.images)
    boxes = sum(len(item.objects) for item in items)
    print(f"{len(items)} {args.task} images, {boxes} boxes of {', '.join(TASKS[args.task])} -> {args.out}")


if __name__ == "__main__":
    main()
