"""An NDJSON line read by orjson (readers.common.loads_line) is what json.loads reads, and a broken one fails as
json fails, with its message."""

from __future__ import annotations

import pytest

from transferline_converter.readers.common import loads, loads_line


@pytest.mark.parametrize(
    "line",
    [
        b'{"data_row": {"id": "a"}, "w": 1.5, "n": [1, -2, 3e2, 18446744073709551615]}\n',
        b'{"x": NaN, "y": Infinity, "z": -Infinity}',  # orjson refuses these; json reads them
        b"\xef\xbb\xbf" + b'{"bom": true}',
        b'{"s": "\\ud800 lone", "t": "\\u00e9"}',
        b'{"big": 1e400, "digits": ' + b"9" * 5000 + b"}",
        b'{"a": 1, "a": 2}',
    ],
)
def test_an_ndjson_line_reads_as_json_reads_it(line):
    assert repr(loads_line(line)) == repr(loads(line.decode("utf-8-sig")))


@pytest.mark.parametrize("line", [b'{"a": 1', b'{"a": 1} x', b"\xff{}", b"[" * 100_000])
def test_a_broken_ndjson_line_fails_as_json_fails(line):
    with pytest.raises((ValueError, RecursionError)) as orjson_error:
        loads_line(line)
    with pytest.raises((ValueError, RecursionError)) as json_error:
        loads(line.decode("utf-8-sig"))
    assert type(orjson_error.value) is type(json_error.value)
    assert str(orjson_error.value) == str(json_error.value)
