"""docker-compose.yml, checked by the real compose CLI (`config`, which needs no engine; built once from its Go module
by deploy/tools/compose.sh) and against the code: every TRANSFERLINE_ variable is a real setting and every
service's command parses with the real `transferline` parser.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from transferline import stages
from transferline.cli import _parser

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
IMAGES = tomllib.loads((REPO / "deploy/docker/images.toml").read_text())
VARIABLE = re.compile(r"\bTRANSFERLINE_[A-Z0-9_]+\b")
NOT_OURS = {"kafka", "minio"}


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """Built (1.5-3 min, once per cache) or found by deploy/tools/compose.sh; Go must be installed."""
    found = subprocess.run(
        ["bash", str(REPO / "deploy/tools/compose.sh"), "path"], capture_output=True, text=True, timeout=900
    )
    assert found.returncode == 0, found.stderr[-2000:]
    return Path(found.stdout.strip().splitlines()[-1])


def run_config(compose_bin: Path, tmp_path: Path, *args: str, compose_file: Path = COMPOSE_FILE, env_file=ENV_EXAMPLE):
    # A clean environment: no TRANSFERLINE_ or COMPOSE_ variable of the caller's shell leaks into the result.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}
    command = [str(compose_bin), "--project-directory", str(REPO), "-f", str(compose_file), "--env-file", str(env_file)]
    return subprocess.run([*command, *args, "config", "--format", "json"], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def project(compose_bin, tmp_path_factory) -> dict:
    done = run_config(compose_bin, tmp_path_factory.mktemp("compose"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # compose warns on stderr (obsolete keys, unset variables)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def gpu_project(compose_bin, tmp_path_factory) -> dict:
    done = run_config(compose_bin, tmp_path_factory.mktemp("compose"), "--profile", "gpu")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ours(project: dict) -> dict[str, dict]:
    return {name: service for name, service in project["services"].items() if name not in NOT_OURS}


def test_the_default_stack_has_every_service_and_the_cpu_trainer(project):
    expected = {"kafka", "minio", "init", "collect", "download", "convert", "records", "train", "gateway"}
    assert set(project["services"]) == expected
    assert project["services"]["train"]["image"] == "transferline/trainer:dev"


def test_every_installed_stage_is_served(project):
    commands = {tuple(service["command"]) for service in ours(project).values()}
    for stage in stages.installed():
        assert ("serve", stage) in commands, stage


def test_two_downloaders(project):
    assert project["services"]["download"]["deploy"]["replicas"] == 2


def test_the_gateway_is_published_on_its_port(project):
    gateway = project["services"]["gateway"]
    [port] = gateway["ports"]
    assert port["target"] == int(gateway["environment"]["TRANSFERLINE_GATEWAY_PORT"]) and port["published"] == "8000"


def test_init_runs_to_completion_before_every_service(project):
    assert project["services"]["init"]["command"] == ["init"]
    for name, service in ours(project).items():
        if name != "init":
            assert service["depends_on"]["init"]["condition"] == "service_completed_successfully", name


def test_every_long_running_service_has_a_healthcheck_and_restarts(project):
    for name, service in project["services"].items():
        if name == "init":
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), name
        assert service["restart"] in {"unless-stopped", "always", "on-failure"}, name


def test_images_are_named_and_built_as_images_toml_says(project, gpu_project):
    for service in [*ours(project).values(), gpu_project["services"]["train-gpu"]]:
        if "build" not in service:
            continue
        image = service["build"]["args"]["IMAGE"]
        assert service["image"] == f"transferline/{image}:dev"
        assert service["build"]["target"] == IMAGES[image]["target"]
    assert project["services"]["init"]["image"] in {s["image"] for s in project["services"].values() if "build" in s}


def test_the_gpu_profile_replaces_the_cpu_trainer_with_an_nvidia_reservation(gpu_project):
    assert "train" not in gpu_project["services"]
    trainer = gpu_project["services"]["train-gpu"]
    [device] = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"] and device["count"] == 1
    assert trainer["image"] == "transferline/trainer-gpu:dev" and trainer["command"] == ["serve", "train"]


def test_two_trainers_in_one_consumer_group_are_refused(compose_bin, tmp_path):
    done = run_config(compose_bin, tmp_path, "--profile", "cpu", "--profile", "gpu")
    assert done.returncode != 0 and "container name" in done.stderr


def test_without_an_env_file_compose_says_what_to_do(compose_bin, tmp_path):
    (tmp_path / "empty.env").write_text("")
    done = run_config(compose_bin, tmp_path, env_file=tmp_path / "empty.env")
    assert done.returncode != 0 and "cp .env.example .env" in done.stderr


def real_settings() -> set[str]:
    found = subprocess.run(
        [sys.executable, "-m", "transferline.cli", "settings", "--json"], capture_output=True, text=True, check=True
    )
    return {row["variable"] for row in json.loads(found.stdout)}


def unknown_variables(*files: Path) -> set[str]:
    named = {variable for file in files for variable in VARIABLE.findall(file.read_text())}
    return named - real_settings()


DEPLOY_FILES = [COMPOSE_FILE, ENV_EXAMPLE, REPO / "deploy/stack.env", REPO / "deploy/docker/Dockerfile"]


def test_every_transferline_variable_is_a_real_setting():
    assert all(VARIABLE.search(file.read_text()) for file in DEPLOY_FILES)
    assert not unknown_variables(*DEPLOY_FILES)


def test_a_misspelt_setting_is_caught_although_compose_accepts_it(compose_bin, tmp_path):
    bogus = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text().replace("command: [\"serve\", \"download\"]",
                                            "command: [\"serve\", \"download\"]\n    environment:\n"
                                            "      TRANSFERLINE_DOWNLOADER_REPLICAS: \"2\"")  # fmt: skip
    bogus.write_text(text)
    assert run_config(compose_bin, tmp_path, compose_file=bogus).returncode == 0  # compose alone would not see it
    assert unknown_variables(bogus) == {"TRANSFERLINE_DOWNLOADER_REPLICAS"}


def test_every_service_command_parses_with_the_real_cli(project, gpu_project):
    services = {**ours(project), **ours(gpu_project)}
    for name, service in services.items():
        args = _parser().parse_args(service["command"])
        if service["command"][0] == "serve":
            assert args.stage in stages.installed(), name


def test_a_command_the_cli_lacks_is_refused():
    with pytest.raises(SystemExit):
        _parser().parse_args(["serv", "collect"])
