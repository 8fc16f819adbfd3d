"""COCO files as JSON text. A conversion writes its dataset twice (coco.json, then the splits, which together
hold it again), and encoding was a fifth of a large conversion, so each image's annotations are encoded once and
every file is put together from those pieces: the same text `json.dumps` would write."""

from __future__ import annotations

import json
from typing import Any

# check_circular off: the dicts were built by the converter and hold no cycles; on, the encoder tracks every
# container (a third of the encoding time).
encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class CocoText:
    def __init__(self, coco: dict[str, Any]) -> None:
        grouped: dict[Any, list[dict[str, Any]]] = {}
        for annotation in coco["annotations"]:
            grouped.setdefault(annotation["image_id"], []).append(annotation)
        # Pieces reproduce the annotation list only when it runs image by image in the images' order, as build
        # writes it; any other order is encoded as it stands.
        order = [image["id"] for image in coco["images"] if image["id"] in grouped]
        self.in_order = [a for image in order for a in grouped[image]] == coco["annotations"]
        self.pieces = {image: encode(found)[1:-1] for image, found in grouped.items()} if self.in_order else {}
        self.counts = {image: len(found) for image, found in grouped.items()}

    def text(self, coco: dict[str, Any]) -> str:
        """`coco` (the dataset this was made from, or a split of it holding whole images) as JSON text."""
        parts = [
            f"{encode(key)}:{self._annotations(coco) if key == 'annotations' else encode(value)}"
            for key, value in coco.items()
        ]
        return "{" + ",".join(parts) + "}"

    def _annotations(self, coco: dict[str, Any]) -> str:
        if not self.in_order:
            return encode(coco["annotations"])
        held = [image["id"] for image in coco["images"] if image["id"] in self.pieces]
        if sum(self.counts[image] for image in held) != len(coco["annotations"]):
            return encode(coco["annotations"])  # not whole images of this dataset: encoded as it stands
        return "[" + ",".join(self.pieces[image] for image in held) + "]"
