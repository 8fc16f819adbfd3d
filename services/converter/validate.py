"""`transferline validate-coco FILE [--repair] [--out F]`: check a COCO file, optionally write a repaired copy."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from transferline.errors import InvalidInput
from transferline_converter.checks import CocoSummary, check_coco
from transferline_converter.dataset import Problems
from transferline_converter.readers.common import load_json
from transferline_converter.repair import repair_coco
from transferline_converter.sources import ExportFile


@dataclass
class ValidationResult:
    """`summary` and `problems` describe the file as given; with repair, `repairs` lists each change made and
    `remaining` what the check still finds in the repaired file. `exit_code` is 0 when no errors remain."""

    summary: CocoSummary
    problems: Problems
    repaired_path: Path | None = None
    exit_code: int = 0
    repairs: Problems | None = None
    remaining: Problems | None = None
    repaired_summary: CocoSummary | None = None


def validate_file(path: Path, *, repair: bool = False, out: Path | None = None) -> ValidationResult:
    coco = _load(path)
    problems = Problems()
    summary = check_coco(coco, problems)
    if not repair:
        return ValidationResult(summary, problems, exit_code=int(summary.errors > 0))
    target = out or path.with_name(f"{path.stem}.repaired.json")
    if target.resolve() == path.resolve():
        raise InvalidInput(f"the repaired file must not replace its input {path}: name another with --out")
    repairs, remaining = Problems(), Problems()
    repaired = repair_coco(coco, repairs)
    _write(target, repaired)
    after = check_coco(repaired, remaining)
    return ValidationResult(summary, problems, target, int(after.errors > 0), repairs, remaining, after)


def _load(path: Path) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    return load_json(ExportFile(path.name, data))


def _write(target: Path, coco: dict) -> None:
    """Written beside the target and renamed, so a failed write never leaves half a file."""
    partial = target.with_name(target.name + ".partial")
    try:
        # A lone surrogate (JSON may spell one, "\\ud800") cannot be UTF-8: written as that same JSON escape.
        with partial.open("w", encoding="utf-8", errors="backslashreplace") as stream:
            json.dump(coco, stream, ensure_ascii=False)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {target}: {exc}") from None


def render_problems(problems: Problems, limit: int = 50) -> str:
    """Counts by code (most first), then the first `limit` problems, errors first, as `severity code row field:
    message`."""
    if not problems.counts:
        return "no problems found"
    width = max(len(code) for code in problems.counts)
    lines = [f"{problems.count('error')} errors, {problems.count('warning')} warnings, {problems.count('info')} info"]
    for code, count in problems.counts.most_common():
        lines.append(f"  {code:<{width}}  {count:>6}  {problems.severities[code]}")
    rank = {"error": 0, "warning": 1, "info": 2}
    for item in sorted(problems.items, key=lambda item: rank[item.severity])[:limit]:
        place = " ".join(part for part in (item.row, item.field) if part)
        lines.append(f"{item.severity} {item.code} {place}: {item.message}")
    hidden = sum(problems.counts.values()) - min(limit, len(problems.items))
    if hidden > 0:
        lines.append(f"... and {hidden} more")
    return "\n".join(lines)


def render_result(path: Path, result: ValidationResult, limit: int = 50) -> str:
    """What `validate-coco` prints: the file's summary and problems, then what repair changed and what remains."""
    parts = [f"{path}: {result.summary.describe()}", render_problems(result.problems, limit)]
    if result.repaired_path is not None and result.repairs is not None:
        parts += [f"repaired copy written to {result.repaired_path}; changes:", render_problems(result.repairs, limit)]
    if result.repaired_summary is not None and result.remaining is not None:
        parts += [f"the repaired copy: {result.repaired_summary.describe()}", render_problems(result.remaining, limit)]
    return "\n".join(parts)
