"""The 80 COCO detection classes with their original ids (1..90, with gaps), as COCO-pretrained heads use them.

The converter validates a user's class -> COCO class mapping against these names; the trainer uses the ids to
pick a COCO class's slice of a pretrained head (class-aware warm start).
"""

from __future__ import annotations

from transferline.errors import InvalidInput

_NAMES = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant - stop_sign "
    "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe - backpack umbrella - - handbag "
    "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
    "tennis_racket bottle - wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
    "hot_dog pizza donut cake chair couch potted_plant bed - dining_table - - toilet - tv laptop mouse remote "
    "keyboard cell_phone microwave oven toaster sink refrigerator - book clock vase scissors teddy_bear "
    "hair_drier toothbrush"
)
# id -> name; '-' marks the ids COCO 2014/2017 left unused.
COCO_CLASSES: dict[int, str] = {
    index: name.replace("_", " ") for index, name in enumerate(_NAMES.split(), start=1) if name != "-"
}
COCO_IDS: dict[str, int] = {name: index for index, name in COCO_CLASSES.items()}


def coco_id(name: str) -> int:
    """The COCO id of a class name; a clear error listing near names when it is not a COCO class."""
    if name in COCO_IDS:
        return COCO_IDS[name]
    close = [known for known in COCO_IDS if name.lower() in known or known in name.lower()]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise InvalidInput(f"{name!r} is not one of the 80 COCO classes{hint}")
