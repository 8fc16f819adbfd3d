"""The images' build inputs, checked offline: each image's lock (deploy/docker/requirements/<image>.txt) holds what
pyproject.toml asks for its extra, TensorFlow only in the trainers', and the Dockerfile builds every image in
images.toml from an exact base tag, as a non-root user, with a health check and without build tools or wheels in
the final layers. No Docker engine runs here, so the images themselves are not built by these tests.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "deploy/docker"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
IMAGES = tomllib.loads((DOCKER / "images.toml").read_text())
TENSORFLOW = {"tensorflow", "tf-models-official", "keras"}  # what makes an image heavy


def _lock_module():
    """deploy/docker/lock.py is a script, not a package: loaded from its file (its dataclass needs sys.modules)."""
    spec = importlib.util.spec_from_file_location("deploy_docker_lock", DOCKER / "lock.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


LOCK = _lock_module()


def read_lock(image: str) -> dict[str, str]:
    """Canonical name -> pinned version; every pin must carry a sha256 (the Dockerfile uses --require-hashes)."""
    text = (LOCK.LOCKS / f"{image}.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\\n    --hash=sha256:[0-9a-f]{64}$", text, re.MULTILINE))
    listed = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert len(listed) == len(pins), f"{image}.txt: a line is not `name==version \\ --hash=sha256:...`"
    return pins


def wanted(image: str) -> list[Requirement]:
    """pyproject's base dependencies, the image's extra (extras that name the project expanded), its own pins."""
    spec = IMAGES[image]
    found = [Requirement(r) for r in PYPROJECT["project"]["dependencies"] + spec.get("requirements", [])]
    extras, seen = [spec["extra"]], set()
    while extras:
        extra = extras.pop()
        seen.add(extra)
        for requirement in map(Requirement, PYPROJECT["project"]["optional-dependencies"][extra]):
            if canonicalize_name(requirement.name) == "transferline":
                extras += sorted(requirement.extras - seen)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_image_has_a_lock_made_from_its_current_request(image):
    header = (LOCK.LOCKS / f"{image}.txt").read_text().splitlines()[1]
    asked = " ".join(f"'{w}'" for w in LOCK.requirements(image))
    assert header == f"# pip install --dry-run --ignore-installed --report - {asked}", "rerun deploy/docker/lock.py"
    assert read_lock(image)


def test_every_lock_belongs_to_an_image():
    assert {p.stem for p in LOCK.LOCKS.glob("*.txt")} == {*IMAGES, LOCK.BUILD_LOCK}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_tensorflow_is_only_in_the_trainers(image):
    names = set(read_lock(image))
    if IMAGES[image]["target"] == "trainer":
        assert names >= TENSORFLOW
    else:
        assert not names & TENSORFLOW, f"{image} would carry {sorted(names & TENSORFLOW)}"


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_lock_pins_what_pyproject_asks_for(image):
    """A pin changed in pyproject.toml without rerunning lock.py fails here."""
    pins = read_lock(image)
    for requirement in wanted(image):
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{image}.txt lacks {requirement} (rerun deploy/docker/lock.py)"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{image}.txt: {name}=={pins[name]}"


def test_the_slim_images_differ_only_by_their_extras():
    """Each slim lock is the platform's closure plus its extra's: a lock resolved from the wrong extra fails."""
    base = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    for image, spec in IMAGES.items():
        extra = {canonicalize_name(Requirement(r).name) for r in extras[spec["extra"]]}
        assert base | extra <= set(read_lock(image)), image


def _installed_here(name: str, version: str) -> metadata.Distribution | None:
    try:
        found = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return found if found.version == version else None


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_lock_holds_the_dependencies_of_what_it_pins(image):
    """The Dockerfile installs the lock with --no-deps, so a missing transitive dependency would only show when a
    service imports it. Checked from the metadata of the same versions installed in this venv."""
    pins = read_lock(image)
    checked = 0
    for name, version in pins.items():
        found = _installed_here(name, version)
        if found is None:
            continue
        checked += 1
        for requirement in map(Requirement, found.requires or []):
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(requirement.name) in pins, f"{image}.txt: {name} needs {requirement}"
    assert checked >= len(pins) // 2, f"only {checked} of {len(pins)} pins could be checked against this venv"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def dockerfile_stages(path: Path) -> dict[str, Stage]:
    """Stage name -> its base and instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    stages: dict[str, Stage] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = re.sub(r"--platform=\S+\s+", "", rest).partition(" AS ")
            name = name.strip() or f"stage-{len(stages)}"  # an unnamed stage is known by its index
            current = stages.setdefault(name, Stage(name, base.strip()))
        else:
            current.instructions.append((keyword.upper(), rest.strip()))
    return stages


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The target and every stage it is built FROM, the root (an image from a registry) last."""
    found = [stages[target]]
    while found[-1].base in stages:
        found.append(stages[found[-1].base])
    return found


def last(found: list[Stage], keyword: str) -> str | None:
    """The instruction that takes effect: the last one in build order (the chain runs target first)."""
    for stage in found:
        for key, value in reversed(stage.instructions):
            if key == keyword:
                return value
    return None


# major.minor.patch (python:3.11.7-slim-bookworm), or a Debian point release (debian:12.11-slim); never 1.26-x
EXACT_TAG = re.compile(r"^([a-z0-9./-]+:\d+\.\d+\.\d+|debian:\d+\.\d+)(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")
STAGES = dockerfile_stages(DOCKER / "Dockerfile")
TARGETS = sorted({spec["target"] for spec in IMAGES.values()})


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_runs_as_a_user_other_than_root(target):
    user = last(chain(STAGES, target), "USER")
    assert user and user.split(":")[0] not in {"root", "0"}, user


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_has_a_health_check_on_its_port(target):
    found = chain(STAGES, target)
    check = last(found, "HEALTHCHECK")
    assert check and not check.upper().startswith("NONE")
    port = re.search(r"os\.environ\['(TRANSFERLINE_\w+_PORT)'\]", check).group(1)
    assert any(key == "ENV" and f"{port}=" in value for stage in found for key, value in stage.instructions), port


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "minio.Dockerfile"])
def test_base_images_are_pinned_by_exact_tag(dockerfile):
    stages = dockerfile_stages(DOCKER / dockerfile)
    roots = {stage.base for stage in stages.values() if stage.base not in stages}
    assert roots and all(EXACT_TAG.match(root) for root in roots), roots


def test_minio_runs_as_a_user_other_than_root():
    stages = dockerfile_stages(DOCKER / "minio.Dockerfile")
    final = list(stages)[-1]
    user = last(chain(stages, final), "USER")
    assert user and user.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("target", TARGETS)
def test_final_layers_hold_no_build_tools_wheels_or_pip_cache(target):
    found = chain(STAGES, target)
    assert "build" not in {stage.name for stage in found}
    runs = " ".join(value for stage in found for key, value in stage.instructions if key == "RUN")
    copies = [value for stage in found for key, value in stage.instructions if key in {"COPY", "ADD"}]
    assert not re.search(r"apt-get install|apk add|\bgcc\b|build-essential", runs)
    assert not any("--from=build" in copy for copy in copies), "wheels go through a mount, not a layer"
    assert "pip install --no-deps --no-index" in runs
    assert any(key == "ENV" and "PIP_NO_CACHE_DIR=1" in value for stage in found for key, value in stage.instructions)


def test_the_build_stage_installs_the_lock_it_is_given_with_hashes():
    runs = [value for key, value in STAGES["build"].instructions if key == "RUN"]
    assert any("--require-hashes" in run and '-r "/locks/${IMAGE}.txt"' in run for run in runs)
    assert any("--no-deps" in run and "--no-build-isolation ." in run for run in runs)


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_what_the_dockerfile_copies_is_in_the_build_context_and_secrets_are_not():
    patterns = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    sources = [
        part
        for stage in STAGES.values()
        for key, value in stage.instructions
        if key == "COPY" and "--from=" not in value
        for part in value.split()[:-1]
        if not part.startswith("--")
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists() and not _ignored(source.rstrip("/"), patterns), source
    assert _ignored(".env", patterns) and _ignored(".venv", patterns)
