"""A progress bar for the one-shot command on a terminal; nothing when output is not a TTY."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transferline.oneshot import Progress


@contextmanager
def progress_bar() -> Iterator[Progress]:
    if not sys.stderr.isatty():
        yield lambda *_: None
        return
    from tqdm import tqdm

    with tqdm(unit="url", dynamic_ncols=True) as bar:

        def update(done: int, total: int | None, message: str, values: dict[str, Any]) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix({name: int(value) for name, value in values.items()}, refresh=False)
            bar.refresh()

        yield update
