"""The import-linter contracts of pyproject.toml catch a wrong import: platform -> service, service -> service.

The packages are copied into tmp_path under their installed names (shared/transferline -> transferline,
services/<name> -> transferline_<name>), a wrong import is added to the copy, and the real `lint-imports` checks
it with the real contracts. PYTHONPATH puts the copies ahead of the editable install's import hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def contract(kind: str) -> str:
    """The name of the one contract of this type."""
    [name] = [found["name"] for found in CONFIG["contracts"] if found["type"] == kind]
    return name


LAYERS, INDEPENDENCE = contract("layers"), contract("independence")


def toml_table(header: str, table: dict[str, Any]) -> str:
    """Strings and lists of strings as TOML (a JSON string or array of strings is a valid TOML value)."""
    return "\n".join([header, *(f"{key} = {json.dumps(value)}" for key, value in table.items())]) + "\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The platform and every service under their installed names, with a pyproject.toml of only the contracts."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "shared" / "transferline", tmp_path / "transferline", ignore=ignore)
    for service in sorted(REPO.glob("services/*/__init__.py")):
        shutil.copytree(service.parent, tmp_path / f"transferline_{service.parent.name}", ignore=ignore)
    settings = {key: value for key, value in CONFIG.items() if key != "contracts"}
    tables = [toml_table("[tool.importlinter]", settings)]
    tables += [toml_table("[[tool.importlinter.contracts]]", found) for found in CONFIG["contracts"]]
    (tmp_path / "pyproject.toml").write_text("\n".join(tables))
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_copied_packages_keep_every_contract(tree: Path) -> None:
    found = lint_imports(tree)
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"{LAYERS} KEPT" in found.stdout and f"{INDEPENDENCE} KEPT" in found.stdout
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in found.stdout


def test_the_platform_importing_a_service_breaks_the_layers(tree: Path) -> None:
    (tree / "transferline" / "wrong_way.py").write_text("import transferline_converter.stage\n")
    found = lint_imports(tree)
    assert found.returncode != 0, found.stdout
    assert f"{LAYERS} BROKEN" in found.stdout and f"{INDEPENDENCE} KEPT" in found.stdout
    assert "transferline.wrong_way -> transferline_converter.stage" in found.stdout


def test_a_service_importing_another_breaks_their_independence(tree: Path) -> None:
    (tree / "transferline_recorder" / "wrong_way.py").write_text("from transferline_converter import stage\n")
    found = lint_imports(tree)
    assert found.returncode != 0, found.stdout
    # Siblings joined by " | " in a layer are independent too, so the layers contract may break here as well.
    assert f"{INDEPENDENCE} BROKEN" in found.stdout
    assert "transferline_recorder.wrong_way -> transferline_converter" in found.stdout
