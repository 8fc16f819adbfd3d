"""Helpers every reader uses: parse JSON with a clear error, and read typed fields that name their path."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec

from transferline.errors import InvalidInput
from transferline_converter.dataset import Problems, Where
from transferline_converter.sources import ExportFile

if TYPE_CHECKING:  # the XML parsers load with the first XML export (a JSON export needs none of them)
    from xml.etree.ElementTree import Element

T = TypeVar("T")
MAX_LINE_BYTES = 16 * 1024 * 1024
FILE_NAME = re.compile(r"[^/\\]+\.[A-Za-z0-9]{1,8}")


class RowError(ValueError):
    """One row or shape cannot be read; the reader records it and goes on with the rest."""

    def __init__(self, where: Where, message: str, code: str = "malformed-row") -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message, self.code = where, message, code

    def record(self, problems: Problems) -> None:
        problems.error(self.code, self.message, self.where)


class HugeNumber(float):
    """An integer with more digits than Python reads (4300), kept as an infinite float: the field readers refuse it
    as not finite, naming its row and field, where reading it as an int would fail the whole file."""

    digits: int

    def __new__(cls, text: str) -> HugeNumber:
        value = super().__new__(cls, "-inf" if text.startswith("-") else "inf")
        value.digits = len(text.lstrip("-"))
        return value

    def __repr__(self) -> str:
        return f"a {self.digits}-digit number"

    __str__ = __repr__


def _int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return HugeNumber(text)


def loads(text: str | bytes) -> Any:
    """json.loads, with integers past Python's digit limit read as HugeNumber (a second parse, only for such
    documents, so the usual one keeps the C parser's speed)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        return json.loads(text, parse_int=_int)


def loads_line(line: bytes) -> Any:
    """One line of an NDJSON export, as `loads` reads it, by msgspec (half of json's time on a large export).
    What msgspec refuses and json reads (NaN and Infinity, which the field readers then refuse by name; numbers past
    a double's range or msgspec's integers; lone surrogates; a byte-order mark; nesting near Python's recursion
    limit) and what neither reads (the error says where) go to `loads`."""
    try:
        return msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError):  # a ValidationError (a number out of range) is a DecodeError
        return loads(line.decode("utf-8-sig"))


NOT_JSON = (UnicodeDecodeError, json.JSONDecodeError, RecursionError)  # what loads_line raises for a broken line


def load_json(file: ExportFile) -> Any:
    """The whole file as JSON; a truncated or broken file names its line and column."""
    try:
        return loads(file.text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{file.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{file.name} nests too deeply to be a label export") from None


_ARRAY_START = re.compile(r"\s*\[\s*")


def first_array_item(file: ExportFile) -> Any:
    """The first element of a single .json file's top-level array, parsing only that element (for sniffing);
    None when the file is not one, or does not start that way."""
    try:
        text = file.data.decode("utf-8-sig")
        start = _ARRAY_START.match(text)
        return json.JSONDecoder(parse_int=_int).raw_decode(text, start.end())[0] if start else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def answers(
    items: list[Any], where: Where, problems: Problems, read: Callable[[Any, Where], tuple[str, Any]]
) -> dict[str, Any]:
    """Classification answers as {question: answer}; a broken answer is a warning and loses nothing else."""
    found: dict[str, Any] = {}
    for index, item in enumerate(items):
        at = where.at(f"[{index}]")
        try:
            question, answer = read(item, at)
            found[question] = answer
        except RowError as err:
            problems.warning(err.code, err.message, err.where)
    return found


def load_array(file: ExportFile, description: str) -> list[Any]:
    """A file that must hold a JSON array; `description` says what it is for the error message."""
    value = load_json(file)
    if not isinstance(value, list):
        raise InvalidInput(f"{file.name}: a {description}, not a JSON {json_kind(value)}")
    return value


def json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class LongLine:
    """A line over MAX_LINE_BYTES (its newline counted), not held: its first MAX_LINE_BYTES + 1 bytes, its size
    (what was read of it, where the rest was not needed), and whether it is all blank space."""

    head: bytes
    size: int
    blank: bool


_LONG_LINE_CHUNK = 1024 * 1024


def stream_lines(stream: BinaryIO, whole: bool = True) -> Iterator[bytes | LongLine]:
    """The stream's lines, each with its newline (the last may have none), split on b"\n" only as bytes split; a
    line too long to hold is read through in chunks and given as a LongLine. With whole=False a long line is read
    only until it shows a byte that is not blank space (a sniff needs no more, and a minified JSON file is one
    long line)."""
    # A line of the limit's length is read whole with its newline: the sniff, which does not count the newline,
    # parses it, where ndjson_lines, which does, refuses it.
    limit = MAX_LINE_BYTES + 1
    while line := stream.readline(limit):
        if len(line) < limit or line.endswith(b"\n"):
            yield line
        else:
            yield _long_line(stream, line, whole)


def _long_line(stream: BinaryIO, head: bytes, whole: bool) -> LongLine:
    size, blank, chunk = len(head), head.isspace(), head
    while (whole or blank) and not chunk.endswith(b"\n") and (chunk := stream.readline(_LONG_LINE_CHUNK)):
        size, blank = size + len(chunk), blank and chunk.isspace()
    return LongLine(head, size, blank)


def is_blank(line: bytes | LongLine) -> bool:
    """What strip() would leave empty (a line here is never b""), without copying the line."""
    return line.blank if isinstance(line, LongLine) else line.isspace()


def ndjson_lines(file: ExportFile, problems: Problems) -> Iterator[tuple[str, bytes]]:
    """(row, line) per non-empty line, the row named `line N` for its Where (made by the reader, which may name the
    row further: a Where made here for every line was dropped for another by most); an oversized line is recorded
    and skipped, not fatal. The file is streamed, a line at a time."""
    with file.open() as stream:
        for number, line in enumerate(stream_lines(stream), start=1):
            if isinstance(line, LongLine):
                if not line.blank:
                    _too_long(line.size, number, problems)
            elif line.isspace():  # is_blank, inline: this runs once a line
                continue
            elif len(line) > MAX_LINE_BYTES:
                _too_long(len(line), number, problems)
            else:
                yield f"line {number}", line


def _too_long(size: int, number: int, problems: Problems) -> None:
    message = f"line is {size / 2**20:.0f} MiB, over the 16 MiB limit"
    problems.error("malformed-row", message, Where(f"line {number}"))


def field(obj: Any, key: str, kind: type[T], where: Where) -> T:
    """`obj[key]`, required, checked to be a `kind` (float accepts ints and refuses NaN); else RowError."""
    value = optional(obj, key, kind, where)
    if value is None:
        raise RowError(where.at(key), "missing")
    return value


def optional(obj: Any, key: str, kind: type[T], where: Where) -> T | None:
    """`obj[key]` checked to be a `kind`, or None when absent or null."""
    if not isinstance(obj, dict):
        raise RowError(where, f"expected an object, got {type(obj).__name__}")
    value = obj.get(key)
    if value is None:
        return None
    if kind is float:
        return number(value, where.at(key))  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RowError(where.at(key), f"expected {kind.__name__}, got {type(value).__name__} {_short(value)}")
    return value


def number(value: Any, where: Where) -> float:
    """A finite number (JSON allows NaN and Infinity through Python's parser; coordinates may not be either)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(where, f"expected a number, got {type(value).__name__} {_short(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer past a float's range (10**400)
        raise RowError(where, f"{_short(value)} is too large for a float", code="nan-coordinate") from None
    if not math.isfinite(result):
        raise RowError(where, f"coordinate is {value}, not a finite number", code="nan-coordinate")
    return result


def xy_points(value: Any, where: Where) -> list[tuple[float, float]]:
    """A list of {"x": .., "y": ..} objects."""
    if not isinstance(value, list):
        raise RowError(where, f"expected a list of points, got {type(value).__name__}")
    points = []
    for index, item in enumerate(value):
        at = where.at(f"[{index}]")
        points.append(
            (number(field(item, "x", float, at), at.at("x")), number(field(item, "y", float, at), at.at("y")))
        )
    return points


def url_file_name(url: str | None) -> str | None:
    """The last segment of a URL's path when it looks like a file name (`.../img_01.jpg` -> `img_01.jpg`), else None:
    signed or API URLs (`.../masks/feature/f3?token=..`) name no file."""
    if not url:
        return None
    try:
        name = PurePosixPath(unquote(urlsplit(url).path)).name
    except ValueError:  # e.g. an unbalanced '[' in the host
        return None
    return name if FILE_NAME.fullmatch(name) else None


def text_number(text: str | None, where: Where) -> float:
    """A finite number written as text (XML attributes, YOLO lines); else RowError naming `where`."""
    try:
        value = float((text or "").strip())
    except ValueError:
        raise RowError(where, f"expected a number, got {_short(text)}") from None
    if not math.isfinite(value):
        raise RowError(where, f"coordinate is {text}, not a finite number", code="nan-coordinate")
    return value


def load_xml(file: ExportFile) -> Element:
    """The file's root element, parsed with defusedxml: entity declarations (billion laughs, external entities
    that read local files or URLs) are refused, and a broken file names its line and column."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    try:
        return safe_xml.fromstring(file.data)
    except ParseError as exc:
        raise InvalidInput(f"{file.name} is not well-formed XML: {exc}") from None
    except DefusedXmlException as exc:
        raise InvalidInput(f"{file.name}: XML entity declarations are refused for safety ({exc})") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise InvalidInput(f"{file.name}: {exc}") from None


def xml_root_tag(file: ExportFile) -> str | None:
    """The root element's tag, read from the start of the file only (for sniffing); None if it is not XML."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    try:
        for _, element in safe_xml.iterparse(io.BytesIO(file.data), events=("start",)):
            return str(element.tag)
    except (ParseError, DefusedXmlException, LookupError):
        return None
    return None


def turned_rectangle(
    box: tuple[float, float, float, float], degrees: float, pivot: tuple[float, float]
) -> list[tuple[float, float]]:
    """The corners of box (x, y, w, h) turned `degrees` clockwise as seen on screen (y points down) about `pivot`:
    Label Studio turns about the top-left corner, CVAT about the centre. Pixels only (percent axes differ)."""
    x, y, w, h = box
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    px, py = pivot
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    return [(px + (cx - px) * c - (cy - py) * s, py + (cx - px) * s + (cy - py) * c) for cx, cy in corners]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
