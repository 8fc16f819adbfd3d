"""YOLO txt labels: one file per image, one object per line, coordinates normalised to the image size.

`class cx cy w h` is a box (centre and size); `class x1 y1 x2 y2 x3 y3 ...` (three or more points) is a
segmentation polygon (Ultralytics; YOLO-OBB's four corners read the same way). Class names come from
classes.txt / obj.names (one per line) or the `names:` of data.yaml / dataset.yaml, read by the small YAML subset
in `yaml_names`. A label file names no image: `A/labels/B/x.txt` labels `A/images/B/x.*` (the last `labels`
folder becomes `images`, as Ultralytics pairs them: Roboflow's `train/labels` + `train/images`, Ultralytics'
`labels/train` + `images/train`; darknet keeps both in one folder). When the export holds that image, its
header gives the size and its path the name, so no separate images folder is needed; otherwise the row is named
by that path without a suffix, and matched by stem.
"""

from __future__ import annotations

import io
import re
from pathlib import PurePosixPath

from transferline.errors import InvalidInput
from transferline.manifest import ImageHeader, read_header
from transferline_converter.dataset import ImageIds, LabeledImage, Problems, ReadResult, Shape, Where
from transferline_converter.readers import ReadOptions
from transferline_converter.readers.common import RowError, text_number
from transferline_converter.sources import IMAGE_SUFFIXES, ExportFile, ExportSource

FORMAT = "yolo"
NAME_FILES = ("classes.txt", "obj.names")
YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
_CLASS = re.compile(r"\d+")
_MAX_DIGITS = 18  # a class index fits int64 (and far below Python's 4300-digit int() limit)
_SNIFF_FILES, _SNIFF_LINES = 20, 5
_HEADER_BYTES = 256 * 1024  # JPEG's EXIF and ICC segments come before the size, and rarely take more


def sniff(source: ExportSource) -> bool:
    try:
        names = _names_file(source)
        labels = [f for f in _label_files(source, names) if f.data.strip()]
        return names is not None and bool(labels) and all(_looks_like_rows(f) for f in labels[:_SNIFF_FILES])
    except Exception:  # sniffing never fails: anything odd just is not YOLO
        return False


def read(source: ExportSource, options: ReadOptions, problems: Problems) -> ReadResult:
    file = _names_file(source)
    if file is None:
        raise InvalidInput(
            f"export {source.name} has no class names: YOLO needs classes.txt, obj.names or data.yaml beside the labels"
        )
    names = yaml_names(file) if file.name.endswith((".yaml", ".yml")) else _plain_names(file)
    labels = _label_files(source, file)
    read_names = {f.name for f in labels} | {file.name}
    ignored = [f.name for f in source.with_suffix(".txt") if f.name not in read_names]
    pictures = {_without_suffix(f.name): f for f in source.with_suffix(*IMAGE_SUFFIXES)}
    images = [_image(f, names, pictures, problems) for f in labels]
    notes = [f"class names from {file.name}", *_picture_notes(images, pictures)]
    if ignored:
        notes.append(f"{len(ignored)} .txt files are not YOLO labels and were ignored: {', '.join(ignored[:5])}")
    return ReadResult(FORMAT, images, categories=[n for _, n in sorted(names.items())], notes=notes)


def image_path(label: str) -> str:
    """Where the image of a label file is, without its suffix: `train/labels/x.txt` -> `train/images/x`."""
    path = PurePosixPath(label)
    folders = list(path.parent.parts)
    if "labels" in folders:
        folders[len(folders) - 1 - folders[::-1].index("labels")] = "images"
    return "/".join([*folders, path.stem])


def _without_suffix(name: str) -> str:
    return str(PurePosixPath(name).with_suffix(""))


def _header(picture: ExportFile) -> ImageHeader | None:
    """The picture's size from its first bytes, where the header is; the whole file only when the header runs
    past them (a TIFF may keep it at the end)."""
    start = picture.head(_HEADER_BYTES)
    header = read_header(io.BytesIO(start))
    return read_header(io.BytesIO(picture.data)) if header is None and len(start) == _HEADER_BYTES else header


def _picture_notes(images: list[LabeledImage], pictures: dict[str, ExportFile]) -> list[str]:
    if not pictures:
        return []
    sized = [image for image in images if image.width]
    notes = [f"{len(sized)} image sizes read from the images in the export"]
    missing = [image.ids.file_name for image in images if not image.width]
    if missing:
        shown = ", ".join(f"{name}.*" for name in missing[:3])
        notes.append(f"{len(missing)} label files have no image beside them in the export (looked for {shown})")
    return notes


def _names_file(source: ExportSource) -> ExportFile | None:
    for name in NAME_FILES + YAML_FILES:
        found = source.named(name)
        if found is not None:
            return found
    return None


def _label_files(source: ExportSource, names: ExportFile | None) -> list[ExportFile]:
    """The .txt files that hold labels: any under a `labels` folder, elsewhere only those whose first line starts
    with a class number (so darknet's train.txt image lists and README.txt are not mistaken for labels)."""
    found = []
    for file in source.with_suffix(".txt"):
        if file is names:
            continue
        first = next((line.split() for line in file.data.splitlines() if line.strip()), [b"0"])
        if "labels" in PurePosixPath(file.name).parts[:-1] or _CLASS.fullmatch(first[0].decode("latin-1")):
            found.append(file)
    return found


def _looks_like_rows(file: ExportFile) -> bool:
    lines = [line.split() for line in file.text().splitlines() if line.strip()][:_SNIFF_LINES]
    return all(_CLASS.fullmatch(t[0]) and _count_ok(len(t) - 1) and _all_numbers(t[1:]) for t in lines)


def _count_ok(count: int) -> bool:
    return count == 4 or (count >= 6 and count % 2 == 0)


def _all_numbers(tokens: list[str]) -> bool:
    try:
        return all(-1 <= float(t) <= 2 for t in tokens)  # normalised, give or take
    except ValueError:
        return False


def _image(
    file: ExportFile, names: dict[int, str], pictures: dict[str, ExportFile], problems: Problems
) -> LabeledImage:
    where = Where(file.name)
    picture = pictures.get(image_path(file.name))
    header = _header(picture) if picture else None
    if picture and header:
        image = LabeledImage(where, ImageIds(file_name=picture.name), header.width, header.height)
    else:
        image = LabeledImage(where, ImageIds(file_name=image_path(file.name)))
    for number, line in enumerate(file.text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            image.shapes.append(_shape(tokens, names, Where(f"{file.name} line {number}")))
        except RowError as exc:
            exc.record(problems)
    return image


def _shape(tokens: list[str], names: dict[int, str], where: Where) -> Shape:
    if not _count_ok(len(tokens) - 1):
        raise RowError(where, f"{len(tokens)} values: expected `class cx cy w h` or `class x1 y1 x2 y2 x3 y3 ...`")
    category = _category(tokens[0], names, where.at("class"))
    if len(tokens) == 5:
        cx, cy, w, h = (text_number(t, where.at(k)) for t, k in zip(tokens[1:], ("cx", "cy", "w", "h"), strict=True))
        if w < 0 or h < 0:
            raise RowError(where.at("w" if w < 0 else "h"), f"negative box size {w:g} x {h:g}")
        return Shape(category, "box", where, "normalized", box=(cx - w / 2, cy - h / 2, w, h))
    values = [text_number(t, where.at(f"{'xy'[i % 2]}{i // 2 + 1}")) for i, t in enumerate(tokens[1:])]
    ring = list(zip(values[0::2], values[1::2], strict=True))
    return Shape(category, "polygon", where, "normalized", polygons=[ring])


def _category(token: str, names: dict[int, str], where: Where) -> str:
    if not _CLASS.fullmatch(token):
        raise RowError(where, f"class must be a whole number, got {token[:40]!r}")
    number = int(token) if len(token) <= _MAX_DIGITS else -1  # past the limit int() refuses, and past any class
    if number not in names:
        known = f"0..{max(names)}" if names else "none"
        shown = token if len(token) <= 40 else f"of {len(token)} digits"
        raise RowError(where, f"class {shown} is not in the class names ({known})", code="unknown-class")
    return names[number]


def _plain_names(file: ExportFile) -> dict[int, str]:
    names = [line.strip() for line in file.text().splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InvalidInput(f"{file.name} lists no class names")
    return dict(enumerate(names))


# --- the YAML subset: a top-level `names:` key holding a flow or block list, or a flow or block mapping of
# index -> name; scalars plain, 'single' or "double" quoted. Anything else is refused with a clear error.


def yaml_names(file: ExportFile) -> dict[int, str]:
    lines = file.text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"names\s*:", line)), None)
    if start is None:
        raise InvalidInput(f"{file.name} has no top-level `names:` key; list the classes in classes.txt instead")
    inline = _strip_comment(lines[start].split(":", 1)[1]).strip()
    try:
        names = _flow(inline, lines[start + 1 :]) if inline else _block(lines[start + 1 :])
    except ValueError as exc:
        raise InvalidInput(f"{file.name}: cannot read `names:` ({exc}); list the classes in classes.txt") from None
    if not names:
        raise InvalidInput(f"{file.name}: `names:` lists no classes")
    return names


def _flow(text: str, more: list[str]) -> dict[int, str]:
    """`[a, 'b c']` or `{0: a, 1: b}`, possibly continued on the following lines."""
    closing = {"[": "]", "{": "}"}.get(text[0])
    if closing is None:
        raise ValueError(f"expected a list or mapping, got {text[:40]!r}")
    rest = iter(more)
    while not text.endswith(closing):
        line = next(rest, None)
        if line is None:
            raise ValueError(f"no closing {closing!r}")
        text += " " + _strip_comment(line).strip()
    items = [item for item in _split(text[1:-1]) if item.strip()]
    if closing == "]":
        return {i: _scalar(item) for i, item in enumerate(items)}
    return dict(_pair(item) for item in items)


def _block(lines: list[str]) -> dict[int, str]:
    """Indented `- name` items or `0: name` pairs, up to the next top-level key."""
    names: dict[int, str] = {}
    for raw in lines:
        line = _strip_comment(raw)
        if not line.strip():
            continue
        if not raw[:1].isspace() and not line.startswith("-"):
            break
        item = line.strip()
        if item.startswith("-"):
            names[len(names)] = _scalar(item[1:])
        else:
            key, value = _pair(item)
            names[key] = value
    return names


def _pair(item: str) -> tuple[int, str]:
    key, sep, value = item.partition(":")
    if not sep or not key.strip().isdigit() or len(key.strip()) > _MAX_DIGITS:
        raise ValueError(f"expected `index: name`, got {item.strip()[:40]!r}")
    return int(key), _scalar(value)


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not text or text[0] in "[]{}&*!|>%@`'\"":
        raise ValueError(f"unsupported YAML value {text[:40]!r}")
    return text


def _split(text: str) -> list[str]:
    """Split a flow collection's inside at commas outside quotes."""
    items, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append(current)
            current = ""
            continue
        current += char
    return [*items, current]


def _strip_comment(line: str) -> str:
    """The line without a ` # comment` (a '#' outside quotes, at the start or after a space)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line
