"""Export with Model Garden's serving module, and run the exported SavedModel (what users ship is what we measure)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from transferline_trainer.evaluate import ImageDetections


def export_saved_model(config: Any, checkpoint: str, export_dir: Path, input_type: str) -> Path:
    """A SavedModel whose `serving_default` takes one image (uint8 HxWx3 tensor, or encoded bytes)."""
    from official.vision.serving import export_saved_model_lib

    size = list(config.task.model.input_size[:2])
    export_saved_model_lib.export_inference_graph(
        input_type=input_type,
        batch_size=1,
        input_image_size=size,
        params=config,
        checkpoint_path=checkpoint,
        export_dir=str(export_dir),
        export_checkpoint_subdir="checkpoint",
        export_saved_model_subdir="saved_model",
    )
    return export_dir / "saved_model"


def export_tflite(config: Any, checkpoint: str, folder: Path) -> Path:
    """A float TFLite model from a SavedModel exported for it (Model Garden's `tflite` input: float pixels)."""
    from official.vision.serving import export_tflite_lib

    saved_model = export_saved_model(config, checkpoint, folder, "tflite")
    out = folder / "model.tflite"
    out.write_bytes(export_tflite_lib.convert_tflite_model(str(saved_model), quant_type=None, params=config))
    return out


class Detector:
    """The exported model, loaded once; boxes come back in the original image's pixels."""

    def __init__(self, saved_model: Path, input_type: str) -> None:
        import tensorflow as tf

        quiet = logging.getLogger("absl"), logging.getLogger("tensorflow")
        levels = [logger.level for logger in quiet]
        for logger in quiet:  # loading prints a warning per traced function ("unsaved custom gradients")
            logger.setLevel(logging.ERROR)
        try:
            self._model = tf.saved_model.load(str(saved_model))
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)
        self._serve = self._model.signatures["serving_default"]
        self._input_type = input_type

    def detect(self, image_id: int, data: bytes) -> ImageDetections:
        import tensorflow as tf

        if self._input_type == "image_bytes":
            outputs = self._serve(tf.constant([data]))
        else:
            outputs = self._serve(tf.constant(_pixels(data)[None]))
        count = int(np.asarray(outputs["num_detections"]).reshape(-1)[0])
        scale = np.asarray(outputs["image_info"])[0, 2]  # [scale_y, scale_x] from original to model input
        boxes = np.asarray(outputs["detection_boxes"])[0, :count] / np.tile(scale, 2)
        return ImageDetections(
            image_id=image_id,
            boxes=boxes,
            classes=np.asarray(outputs["detection_classes"])[0, :count].astype(int),
            scores=np.asarray(outputs["detection_scores"])[0, :count].astype(float),
        )


def _pixels(data: bytes) -> np.ndarray:
    """Upright RGB pixels, as the recorder stored the image (EXIF orientation applied)."""
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(ImageOps.exif_transpose(picture).convert("RGB"))
