"""deploy/k8s, checked offline: `kustomize build` of the base and every overlay, every object validated against its
schema, then the rules a cluster would only tell us about at run time.

kustomize is the real one, built from its Go module by deploy/tools/kustomize.sh (cached; the Go proxy is reached
only when the binary is missing). Built-in kinds are validated by `kubernetes-validate` against the Kubernetes
schemas it ships, in strict mode (an unknown field fails, as `kubectl apply`'s strict field validation would);
KEDA's ScaledObject against its CRD's schema kept in deploy/k8s/schemas/.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from transferline import cli, events, stages
from transferline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy/k8s"
KUSTOMIZE_SH = REPO / "deploy/tools/kustomize.sh"
STACK_ENV = REPO / "deploy/stack.env"

KUBERNETES_VERSION = "1.37.0"  # the newest schema set kubernetes-validate 1.37.0 ships
KEDA_VERSION = "v2.21.0"
KEDA_SCHEMA = K8S / f"schemas/keda-{KEDA_VERSION}-scaledobject-v1alpha1.yaml"

BUILDS = ("base", "overlays/local", "overlays/production", "overlays/gpu")
OVERLAYS = tuple(build for build in BUILDS if build.startswith("overlays/"))
NO_SECRET_VALUES = ("base", "overlays/production", "overlays/gpu")
# Secrets an operator creates (README); every other Secret reference must be optional.
REQUIRED_SECRETS = {"transferline-s3": {"access-key", "secret-key"}, "transferline-api": {"token"}}
STAGE_IMAGES = {
    "collect": "transferline/collector:dev",
    "download": "transferline/downloader:dev",
    "convert": "transferline/converter:dev",
    "records": "transferline/recorder:dev",
    "train": "transferline/trainer:dev",
}
IMAGES = {*STAGE_IMAGES.values(), "transferline/gateway:dev", "transferline/trainer-gpu:dev", "transferline/minio:dev"}
THIRD_PARTY_IMAGES = {"apache/kafka:4.1.2"}
AUTOSCALED = {"download", "convert"}
WORKLOADS = ("Deployment", "StatefulSet", "Job")


# --- building -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kustomize() -> Path:
    found = subprocess.run(["bash", str(KUSTOMIZE_SH), "path"], capture_output=True, text=True, timeout=1200)
    assert found.returncode == 0, found.stderr
    binary = Path(found.stdout.strip().splitlines()[-1])
    assert binary.is_file(), found.stdout
    return binary


@pytest.fixture(scope="session")
def builds(kustomize: Path) -> dict[str, list[dict]]:
    return {target: render(kustomize, K8S / target) for target in BUILDS}


def render(kustomize: Path, folder: Path) -> list[dict]:
    # The base reads deploy/stack.env, outside deploy/k8s: kustomize's default load restrictor refuses that.
    built = subprocess.run(
        [str(kustomize), "build", "--load-restrictor", "LoadRestrictionsNone", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@functools.cache
def real_settings() -> frozenset[str]:
    """Every variable `transferline settings --json` knows: the platform's, each stage's and the gateway's."""
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "transferline"), "settings", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return frozenset(row["variable"] for row in json.loads(shown.stdout))


def named(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def settings_of(docs: list[dict]) -> dict[str, str]:
    [config] = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("transferline-settings")
    ]
    return config["data"]


def pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def stage_of(deployment: dict) -> str | None:
    """The stage a Deployment serves (`transferline serve <stage>`), None for the gateway."""
    args = pod(deployment)["containers"][0].get("args", [])
    return args[1] if args[:1] == ["serve"] else None


def partitions(docs: list[dict]) -> int:
    return int(
        settings_of(docs).get("TRANSFERLINE_TOPIC_PARTITIONS", Settings.model_fields["topic_partitions"].default)
    )


def autoscaled(docs: list[dict]) -> dict[str, list[dict]]:
    """Deployment name -> the ScaledObjects and HPAs aimed at it."""
    found: dict[str, list[dict]] = {}
    for doc in docs:
        if doc["kind"] in ("ScaledObject", "HorizontalPodAutoscaler"):
            found.setdefault(doc["spec"]["scaleTargetRef"]["name"], []).append(doc)
    return found


def minimum_replicas(docs: list[dict], deployment: dict) -> int:
    scalers = autoscaled(docs).get(deployment["metadata"]["name"], [])
    if scalers:
        return min(s["spec"].get("minReplicaCount", s["spec"].get("minReplicas", 1)) for s in scalers)
    return deployment["spec"].get("replicas", 1)


# --- schemas ------------------------------------------------------------------------------------------------------


def close_objects(schema: Any) -> Any:
    """The CRD's schema with `additionalProperties: false` on every object that lists its properties.

    KEDA's CRD leaves additionalProperties unset almost everywhere: the API server prunes unknown fields (or,
    under strict field validation, rejects them), which plain JSON Schema would let through. Closing the objects
    here gives the server's answer. Objects that set additionalProperties (maps) or preserve unknown fields stay
    as they are. Only schema positions are walked, so a field that happens to be named "items" is not touched."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    if "properties" in closed:
        closed["properties"] = {name: close_objects(sub) for name, sub in closed["properties"].items()}
        if "additionalProperties" not in closed and not closed.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(closed.get(key), dict):
            closed[key] = close_objects(closed[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in closed:
            closed[key] = [close_objects(sub) for sub in closed[key]]
    return closed


@pytest.fixture(scope="session")
def keda_schema() -> dict:
    return yaml.safe_load(KEDA_SCHEMA.read_text())


@pytest.fixture(scope="session")
def keda(keda_schema: dict) -> jsonschema.Draft7Validator:
    schema = close_objects(keda_schema)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def keda_errors(validator: jsonschema.Draft7Validator, doc: dict) -> list[str]:
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc))


def test_every_overlay_is_built_and_checked() -> None:
    on_disk = {f"overlays/{p.name}" for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file()}
    assert on_disk == set(OVERLAYS)


def test_kubernetes_validate_ships_the_pinned_schemas() -> None:
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions()
    assert kubernetes_validate.utils.latest_version() == KUBERNETES_VERSION  # a newer package: move the pin up


@pytest.mark.parametrize("target", BUILDS)
def test_every_object_validates_against_its_schema(
    builds: dict[str, list[dict]], keda: jsonschema.Draft7Validator, target: str
) -> None:
    checked = []
    for doc in builds[target]:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("keda.sh/"):
            assert (doc["apiVersion"], doc["kind"]) == ("keda.sh/v1alpha1", "ScaledObject"), what
            errors = keda_errors(keda, doc)
            assert not errors, (what, errors)
            checked.append(f"{what}: KEDA {KEDA_VERSION} ScaledObject schema")
            continue
        try:
            validated = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{target}: {what}: {exc.message} at {'.'.join(map(str, exc.caught.absolute_path))}")
        assert validated == "1.37", what
        checked.append(f"{what}: Kubernetes {validated} strict")
    assert checked
    print(f"\n{target}: {len(checked)} objects valid\n  " + "\n  ".join(checked))


def test_kubernetes_validate_rejects_an_unknown_field(builds: dict[str, list[dict]]) -> None:
    deployment = copy.deepcopy(named(builds["base"], "Deployment")["collect"])
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)  # the unchanged one passes
    pod(deployment)["containers"][0]["bogus"] = True
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=False)  # only strict mode catches it
    with pytest.raises(kubernetes_validate.ValidationError, match="bogus"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    misspelt = copy.deepcopy(named(builds["base"], "Deployment")["collect"])
    pod(misspelt)["containers"][0]["resources"]["limit"] = {"cpu": "1"}
    with pytest.raises(kubernetes_validate.ValidationError, match="limit"):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("where", "field"),
    [((), "bogus"), (("spec",), "bogus"), (("spec", "scaleTargetRef"), "bogus"), (("spec", "triggers", 0), "bogus")],
)
def test_the_keda_schema_rejects_an_unknown_field(
    builds: dict[str, list[dict]], keda: jsonschema.Draft7Validator, keda_schema: dict, where: tuple, field: str
) -> None:
    scaled = copy.deepcopy(named(builds["overlays/production"], "ScaledObject")["download"])
    assert not keda_errors(keda, scaled)
    node = scaled
    for step in where:
        node = node[step]
    node[field] = 1
    assert any(field in error for error in keda_errors(keda, scaled))
    if where:  # the CRD's schema as shipped lets it through: closing the objects is what catches it
        assert not keda_errors(jsonschema.Draft7Validator(keda_schema), scaled)


def test_the_keda_schema_rejects_a_wrong_type(builds: dict[str, list[dict]], keda: jsonschema.Draft7Validator) -> None:
    scaled = copy.deepcopy(named(builds["overlays/production"], "ScaledObject")["download"])
    scaled["spec"]["maxReplicaCount"] = "many"
    del scaled["spec"]["triggers"][0]["type"]
    errors = keda_errors(keda, scaled)
    assert any(e.startswith("spec.maxReplicaCount") for e in errors), errors
    assert any("'type' is a required property" in e for e in errors), errors


# --- the rules ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", BUILDS)
def test_every_deployment_has_probes_resources_and_a_locked_down_pod(
    builds: dict[str, list[dict]], target: str
) -> None:
    data_dir = settings_of(builds[target])["TRANSFERLINE_DATA_DIR"]
    deployments = named(builds[target], "Deployment")
    assert set(deployments) == {*STAGE_IMAGES, "gateway"}
    for name, deployment in deployments.items():
        spec = pod(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        scratch = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            ports = {port["name"] for port in container["ports"]}
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert {
                container["livenessProbe"]["httpGet"]["port"],
                container["readinessProbe"]["httpGet"]["port"],
            } <= ports
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            writable = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in scratch}
            assert {"/tmp", data_dir} <= writable, (name, writable)


@pytest.mark.parametrize("target", BUILDS)
def test_every_pod_meets_the_restricted_pod_security_standard(builds: dict[str, list[dict]], target: str) -> None:
    checked = 0
    for doc in builds[target]:
        if doc["kind"] not in WORKLOADS:
            continue
        spec, name = pod(doc), doc["metadata"]["name"]
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert all(
            set(v) & {"emptyDir", "persistentVolumeClaim", "configMap", "secret"} for v in spec.get("volumes", [])
        )
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and not context.get("privileged"), name
            assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add"), name
            assert container["resources"]["limits"]["memory"], name
        checked += 1
    assert checked >= 7


@pytest.mark.parametrize("target", BUILDS)
def test_a_disruption_budget_covers_every_deployment_with_more_than_one_replica(
    builds: dict[str, list[dict]], target: str
) -> None:
    docs = builds[target]
    budgets = named(docs, "PodDisruptionBudget")
    for budget in budgets.values():
        assert "maxUnavailable" in budget["spec"]  # never blocks a drain, whatever the replica count
    several = 0
    for name, deployment in named(docs, "Deployment").items():
        if minimum_replicas(docs, deployment) <= 1:
            continue
        several += 1
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert covering, f"{target}: {name} runs more than one replica without a PodDisruptionBudget"
    assert several >= 1  # the downloader always has two


@pytest.mark.parametrize("target", OVERLAYS)
def test_autoscalers_follow_the_stage_consumer_groups_within_the_partitions(
    builds: dict[str, list[dict]], target: str
) -> None:
    docs = builds[target]
    deployments = named(docs, "Deployment")
    limit = partitions(docs)
    scalers = autoscaled(docs)
    assert set(scalers) == AUTOSCALED
    for name, [scaler] in scalers.items():  # one each: KEDA's own HPA and another would fight
        assert "replicas" not in deployments[name]["spec"], f"{name}: `kubectl apply` would reset the autoscaler"
        spec = scaler["spec"]
        if scaler["kind"] == "HorizontalPodAutoscaler":
            assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
            assert spec["minReplicas"] <= spec["maxReplicas"] <= limit, name
            continue
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= limit, name
        stage = stage_of(deployments[name])
        assert stage is not None and stages.load_stage(stage).name == stage  # the runner's group is the stage's name
        environment = settings_of(docs)
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["consumerGroup"] == stage
            assert trigger["metadata"]["topic"] == events.request_topic(stage)
            assert environment.get(trigger["metadata"]["bootstrapServersFromEnv"]), "KEDA resolves it from the pod"


def test_base_leaves_autoscaling_to_the_overlays(builds: dict[str, list[dict]]) -> None:
    assert not autoscaled(builds["base"])
    kinds = {target: {d["kind"] for d in builds[target]} for target in OVERLAYS}
    assert "HorizontalPodAutoscaler" in kinds["overlays/local"] and "ScaledObject" not in kinds["overlays/local"]
    for target in ("overlays/production", "overlays/gpu"):
        assert "ScaledObject" in kinds[target] and "HorizontalPodAutoscaler" not in kinds[target]


def test_production_scales_out_within_more_partitions(builds: dict[str, list[dict]]) -> None:
    local, production = builds["overlays/local"], builds["overlays/production"]
    assert partitions(production) > partitions(local)
    assert named(production, "ScaledObject")["download"]["spec"]["maxReplicaCount"] > partitions(local)
    for name in ("records", "gateway"):
        assert (
            named(production, "Deployment")[name]["spec"]["replicas"]
            > named(local, "Deployment")[name]["spec"]["replicas"]
        )


@pytest.mark.parametrize("target", BUILDS)
def test_only_the_gpu_overlay_asks_for_a_gpu(builds: dict[str, list[dict]], target: str) -> None:
    train = named(builds[target], "Deployment")["train"]
    spec = pod(train)
    [container] = spec["containers"]
    if target == "overlays/gpu":
        assert container["image"] == "transferline/trainer-gpu:dev"
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == 1
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    else:
        assert container["image"] == "transferline/trainer:dev"
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        assert "nodeSelector" not in spec
    for name, deployment in named(builds[target], "Deployment").items():
        if name != "train":
            assert "nvidia.com/gpu" not in json.dumps(deployment), name


@pytest.mark.parametrize("target", BUILDS)
def test_the_trainer_has_time_to_checkpoint_on_sigterm(builds: dict[str, list[dict]], target: str) -> None:
    train = named(builds[target], "Deployment")["train"]
    assert pod(train)["terminationGracePeriodSeconds"] >= 300
    assert train["spec"]["strategy"] == {"type": "Recreate"}  # never two trainers (two GPUs) at once


@pytest.mark.parametrize("target", BUILDS)
def test_secrets_are_only_referenced_outside_the_local_overlay(builds: dict[str, list[dict]], target: str) -> None:
    docs = builds[target]
    secrets = named(docs, "Secret")
    if target in NO_SECRET_VALUES:
        assert not secrets, f"{target} carries Secret values: {sorted(secrets)}"
    else:
        for name, secret in secrets.items():
            assert secret["metadata"]["annotations"]["transferline/dev-only"] == "true", name
    references = 0
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for container in pod(doc)["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                references += 1
                if ref.get("optional"):
                    continue
                if target in NO_SECRET_VALUES:  # what the README tells an operator to create
                    assert ref["key"] in REQUIRED_SECRETS.get(ref["name"], set()), (doc["metadata"]["name"], ref)
                else:  # the dev cluster starts: kustomize pointed the reference at the generated Secret
                    assert ref["key"] in secrets[ref["name"]]["data"], (doc["metadata"]["name"], ref)
            for source in container.get("envFrom", []):
                assert "secretRef" not in source  # variables from a Secret would hide their names from these tests
    assert references >= 12


@pytest.mark.parametrize("target", BUILDS)
def test_every_transferline_variable_is_a_real_setting(builds: dict[str, list[dict]], target: str) -> None:
    mentioned = set(re.findall(r"TRANSFERLINE_[A-Z0-9_]+", yaml.safe_dump_all(builds[target])))
    assert "TRANSFERLINE_S3_ACCESS_KEY" in mentioned
    unknown = mentioned - real_settings()
    assert not unknown, f"{target}: not settings: {sorted(unknown)}"
    for doc in builds[target]:
        if doc["kind"] == "Deployment":
            for container in pod(doc)["containers"]:
                names = [v["name"] for v in container.get("env", [])]
                assert len(names) == len(set(names)), doc["metadata"]["name"]
                assert set(names) <= real_settings(), doc["metadata"]["name"]


def test_the_settings_check_knows_every_service_and_refuses_a_misspelling() -> None:
    assert {
        "TRANSFERLINE_GATEWAY_PORT",
        "TRANSFERLINE_LABELBOX_API_KEY",
        "TRANSFERLINE_BRAVE_API_KEY",
    } <= real_settings()
    assert "TRANSFERLINE_KAFKA_BOOTSTRAPS" not in real_settings()


@pytest.mark.parametrize("target", BUILDS)
def test_the_settings_come_from_stack_env(builds: dict[str, list[dict]], target: str) -> None:
    given = dict(
        line.split("=", 1) for line in STACK_ENV.read_text().splitlines() if line.strip() and not line.startswith("#")
    )
    assert given
    data = settings_of(builds[target])
    assert {key: data.get(key) for key in given} == given
    for deployment in named(builds[target], "Deployment").values():
        [container] = pod(deployment)["containers"]
        config = {s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s}
        assert config <= set(named(builds[target], "ConfigMap")) and config, deployment["metadata"]["name"]


@pytest.mark.parametrize("target", OVERLAYS)
def test_every_overlay_names_its_kafka_and_store(builds: dict[str, list[dict]], target: str) -> None:
    docs = builds[target]
    data = settings_of(docs)
    services = named(docs, "Service")
    brokers = data["TRANSFERLINE_KAFKA_BOOTSTRAP"].split(",")
    endpoint = re.fullmatch(r"https?://([^:/]+)(?::(\d+))?/?", data["TRANSFERLINE_S3_ENDPOINT"])
    assert brokers and endpoint
    wanted = [tuple(b.rsplit(":", 1)) for b in brokers] + [(endpoint[1], endpoint[2] or "443")]
    for host, port in wanted:
        if target == "overlays/local":  # the in-cluster Kafka and MinIO, under the names the settings give
            assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, host
        else:
            assert "." in host and host not in services and host not in ("localhost", "127.0.0.1"), host


@pytest.mark.parametrize("target", BUILDS)
def test_every_container_command_parses_with_the_cli(builds: dict[str, list[dict]], target: str) -> None:
    parser = cli._parser()
    served, commands = set(), []
    for doc in builds[target]:
        if doc["kind"] not in WORKLOADS:
            continue
        for container in pod(doc)["containers"]:
            image = container["image"]
            if image == "transferline/minio:dev" or image in THIRD_PARTY_IMAGES:
                continue
            assert container["command"] == ["transferline"], doc["metadata"]["name"]
            try:
                parsed = parser.parse_args(container["args"])
            except SystemExit:
                pytest.fail(f"{target}: {doc['metadata']['name']}: `transferline {' '.join(container['args'])}`")
            commands.append(container["args"][0])
            if container["args"][0] == "serve":
                assert parsed.stage in stages.installed()
                assert doc["metadata"]["name"] == parsed.stage
                if target != "overlays/gpu" or parsed.stage != "train":
                    assert image == STAGE_IMAGES[parsed.stage]
                served.add(parsed.stage)
    assert served == set(stages.installed())  # every installed stage is deployed, under its own name
    assert sorted(c for c in commands if c != "serve") == ["gateway", "init"]


def test_the_cli_check_refuses_what_the_cli_refuses() -> None:
    for wrong in (["serve"], ["gateway", "--bogus"], ["nosuch"]):
        with pytest.raises(SystemExit):
            cli._parser().parse_args(wrong)


@pytest.mark.parametrize("target", BUILDS)
def test_ports_and_the_gateway_service_agree_with_the_settings(builds: dict[str, list[dict]], target: str) -> None:
    docs = builds[target]
    data = settings_of(docs)
    deployments = named(docs, "Deployment")
    for name, deployment in deployments.items():
        [container] = pod(deployment)["containers"]
        [port] = container["ports"]
        wanted = data["TRANSFERLINE_GATEWAY_PORT" if name == "gateway" else "TRANSFERLINE_HTTP_PORT"]
        assert port == {"name": "http", "containerPort": int(wanted)}, name
        assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == wanted, name
    service = named(docs, "Service")["gateway"]
    labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    ingresses = named(docs, "Ingress")
    assert bool(ingresses) == (target != "base" and target != "overlays/local")
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}


@pytest.mark.parametrize("target", BUILDS)
def test_images_are_the_built_ones_or_pinned(builds: dict[str, list[dict]], target: str) -> None:
    used = {c["image"] for d in builds[target] if d["kind"] in WORKLOADS for c in pod(d)["containers"]}
    assert used <= IMAGES | THIRD_PARTY_IMAGES, used - IMAGES - THIRD_PARTY_IMAGES
    if target == "overlays/local":
        assert {"apache/kafka:4.1.2", "transferline/minio:dev"} <= used
