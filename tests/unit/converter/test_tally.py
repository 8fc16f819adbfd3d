"""The annotations read once: what the loop gathers is what counting each field by itself gives."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from transferline_converter.tally import class_totals, tally

SIZES = [(8, 8), (640, 480), (1280, 720)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(10, 18), st.sampled_from(SIZES)), min_size=1, max_size=12),  # ids may repeat
    st.lists(st.tuples(st.integers(0, 11), st.integers(1, 6), st.integers(1, 40), st.floats(0.001, 40.0)), max_size=60),
)
def test_the_tally_holds_each_images_classes_the_totals_and_each_boxs_sizes(sizes, boxes) -> None:
    images = [{"id": i, "width": w, "height": h} for i, (w, h) in sizes]
    annotations = [
        {"image_id": images[n % len(images)]["id"], "category_id": c, "bbox": [1, 2, w, h], "area": round(w * h, 3)}
        for n, c, w, h in boxes
    ]
    counted = tally({"images": images, "annotations": annotations})

    expected: dict[int, dict[int, int]] = {image["id"]: {} for image in images}
    for a in annotations:
        expected[a["image_id"]][a["category_id"]] = expected[a["image_id"]].get(a["category_id"], 0) + 1
    assert counted.per_image == expected
    assert [list(found) for found in counted.per_image.values()] == [list(found) for found in expected.values()]
    assert counted.objects == Counter(a["category_id"] for a in annotations)
    assert counted.areas == [a["area"] for a in annotations]
    area_of = {image["id"]: image["width"] * image["height"] for image in images}
    assert counted.fractions == [a["bbox"][2] * a["bbox"][3] / area_of[a["image_id"]] for a in annotations]
    assert class_totals(counted.per_image.values()) == dict(counted.objects)
