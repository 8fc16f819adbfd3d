"""The deployment files agree with the code: every service that exists is deployed, with real settings.

docker compose cannot run here (no Docker engine or compose plugin), so the compose file is checked for what
breaks a stack silently: a missing service, a misspelt TRANSFERLINE_ variable, a dependency on nothing.
The Kubernetes manifests are rendered by the real kustomize (kubectl's).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from transferline import stages
from transferline.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[3]
INSTALLED = stages.load_all()
SERVICES = sorted(stage.name for stage in INSTALLED)
SETTINGS = {
    variable
    for model in [Settings, *(stage.settings_model for stage in INSTALLED if stage.settings_model)]
    for variable in model.variables().values()
}


def rendered() -> list[dict]:
    found = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy/k8s/overlays/local")], capture_output=True, text=True, check=True
    )
    return list(yaml.safe_load_all(found.stdout))


def test_there_is_at_least_one_service_to_deploy() -> None:
    assert "convert" in SERVICES


def test_compose_runs_every_service_with_known_settings() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    for stage in SERVICES:
        assert services[stage]["command"] == ["serve", stage]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        unknown = {k for k in service.get("environment", {}) if k.startswith(PREFIX)} - SETTINGS
        assert not unknown, (name, unknown)
    build = services[SERVICES[0]]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()


def test_kustomize_renders_a_deployment_per_service_with_known_settings_and_probes() -> None:
    documents = rendered()
    by_kind = {(d["kind"], d["metadata"]["name"]) for d in documents}
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    assert set(config["data"]) <= SETTINGS
    secrets = {name for kind, name in by_kind if kind == "Secret"}
    for stage in SERVICES:
        deployment = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == stage)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["serve", stage]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {e["name"] for e in container["env"]} <= SETTINGS
        required = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"]
            if not e["valueFrom"]["secretKeyRef"].get("optional")
        }
        assert required <= secrets  # kustomize rewrote the generated secret's name in the reference
        assert config["metadata"]["name"] in {r["configMapRef"]["name"] for r in container["envFrom"]}
