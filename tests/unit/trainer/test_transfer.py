"""Class-aware warm start on plain arrays: which slice of a class-sized weight belongs to which class."""

from __future__ import annotations

import numpy as np
import pytest

from transferline_trainer.transfer import warm_start

ANCHORS = 9


def test_retinanet_slices_are_anchor_major_and_only_mapped_classes_change() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 1, 16, ANCHORS * 91)).astype(np.float32)  # a COCO head: 91 classes per anchor
    fresh = rng.normal(size=(1, 1, 16, ANCHORS * 4)).astype(np.float32)
    out = warm_start(fresh, base, classes=4, base_classes=91, class_map={2: 44}, layout="retinanet")
    assert out is not None and out.shape == fresh.shape
    for anchor in range(ANCHORS):
        np.testing.assert_array_equal(out[..., anchor * 4 + 2], base[..., anchor * 91 + 44])  # 44: bottle
        for other in (0, 1, 3):
            np.testing.assert_array_equal(out[..., anchor * 4 + other], fresh[..., anchor * 4 + other])


def test_rcnn_box_regressor_slices_are_class_major() -> None:
    base = np.arange(5 * 91 * 4, dtype=np.float32).reshape(5, 91 * 4)  # dense: 4 box numbers per class
    fresh = np.zeros((5, 3 * 4), dtype=np.float32)
    out = warm_start(fresh, base, classes=3, base_classes=91, class_map={1: 3, 2: 1}, layout="rcnn")
    assert out is not None
    np.testing.assert_array_equal(out[:, 4:8], base[:, 12:16])
    np.testing.assert_array_equal(out[:, 8:12], base[:, 4:8])
    assert not out[:, :4].any()


def test_a_bias_with_one_value_per_class_works_in_both_layouts() -> None:
    base, fresh = np.arange(91, dtype=np.float32), np.full(3, -4.6, dtype=np.float32)
    for layout in ("retinanet", "rcnn"):
        out = warm_start(fresh, base, 3, 91, {1: 47}, layout)  # type: ignore[arg-type]
        assert out is not None and out.tolist() == pytest.approx([-4.6, 47.0, -4.6])


@pytest.mark.parametrize(
    ("fresh_shape", "base_shape"),
    [((3, 3, 16, 36), (3, 3, 8, 819)), ((3, 3, 16, 35), (3, 3, 16, 819)), ((3, 3, 16, 36), (3, 3, 16, 91 * 5))],
)
def test_weights_that_are_not_class_sized_alike_are_refused(fresh_shape, base_shape) -> None:
    fresh, base = np.zeros(fresh_shape), np.zeros(base_shape)
    assert warm_start(fresh, base, classes=4, base_classes=91, class_map={}, layout="retinanet") is None
