"""The shipped Prometheus and Grafana files: valid for promtool, rules unit-tested, dashboard consistent with the metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from emostream.config import HttpConfig
from emostream.infra.buildinfo import register_process_metrics
from emostream.infra.metrics import AggregatorMetrics, ClassifierMetrics, IngestMetrics
from emostream.ingest.supervisor import Supervisor

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "ops" / "prometheus"
GRAFANA_DIR = REPO / "ops" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "emostream.json"
METRIC = re.compile(r"\b(emostream_[a-z0-9_]+)")
RECORDED = re.compile(r"\b[a-z_]+:emostream_[a-z0-9_]+:[a-z0-9_]+")


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; scripts/system-deps.sh installs it)")
    return binary


def exported_metric_names() -> set[str]:
    """Every series name the workers can export, with the suffixes Prometheus sees."""
    names: set[str] = set()
    for metrics in (IngestMetrics, ClassifierMetrics, AggregatorMetrics):
        registry = CollectorRegistry()
        metrics(registry)
        register_process_metrics(registry)  # every worker adds these (infra/worker.py)
        for family in registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            names.update(family.name + suffix for suffix in suffixes)
    registry = CollectorRegistry()
    Supervisor([[]], lambda _index: None, [0], registry, exit_at_end=False)  # type: ignore[arg-type,return-value]  # the parent of ingest.processes > 1
    names.update(family.name + "_total" for family in registry.collect() if family.type == "counter")
    return names


def recorded_names() -> set[str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "recording.yml").read_text())
    return {rule["record"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_exprs() -> dict[str, list[str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {panel["title"]: [t["expr"] for t in panel["targets"]] for panel in dashboard["panels"]}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_promtool_accepts_the_prometheus_configuration() -> None:
    result = run(promtool(), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout, "prometheus.yml must load the recording and alerting rules"


def test_promtool_accepts_the_rules() -> None:
    result = run(promtool(), "check", "rules", *map(str, sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerting_and_recording_rules_pass_their_unit_tests() -> None:
    result = run(promtool(), "test", "rules", str(PROMETHEUS_DIR / "tests" / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_worker_is_scraped_on_its_default_port() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]}
    defaults = HttpConfig()
    assert targets == {
        "emostream-aggregator": [f"127.0.0.1:{defaults.aggregator_port}"],
        "emostream-ingest": [f"127.0.0.1:{defaults.ingest_port}"],
        "emostream-classifier": [f"127.0.0.1:{defaults.classifier_port}"],
    }


def test_the_alerts_the_issue_asks_for_exist() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"EmostreamSourceDown", "EmostreamBacklogGrowing", "EmostreamNoFaces", "EmostreamDeadLetters", "EmostreamIngestChildRestarts"} <= alerts, alerts


def test_rules_and_dashboard_use_only_metrics_that_exist() -> None:
    rules_text = "\n".join(p.read_text() for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    text = rules_text + "\n".join(e for exprs in dashboard_exprs().values() for e in exprs)
    # Recording rule names (level:metric:operations) must be defined ...
    recorded = set(RECORDED.findall(text))
    assert recorded <= recorded_names(), f"undefined recording rules: {sorted(recorded - recorded_names())}"
    # ... and every other metric name must be exported by a worker.
    used = set(METRIC.findall(RECORDED.sub("", text)))
    # A name ending in '_' is the start of a regex matcher, e.g. emostream_(classifier|aggregator)_deadletters_total.
    used = {name for name in used if not name.endswith("_")}
    assert len(used) > 10, f"too few metric names found ({used}); is the pattern right?"
    assert used <= exported_metric_names(), f"unknown metric names: {sorted(used - exported_metric_names())}"


def test_the_dashboard_has_the_panels_an_operator_needs() -> None:
    exprs = dashboard_exprs()
    assert "emostream_aggregator_emotion_share_ratio" in " ".join(exprs["Emotion share over time: $source"])
    assert "emostream_aggregator_events_total" in exprs["Events per second"][0]
    latency = exprs["Latency quantiles"]
    assert len(latency) == 3
    assert all(e.startswith("histogram_quantile(") and "emostream_aggregator_latency_seconds_bucket" in e for e in latency), latency
    assert any("emostream_classifier_batch_size" in e for e in exprs["Classifier batch size"])
    drops = " ".join(exprs["Drops and reconnects"])
    assert 'emostream_ingest_frames_total{outcome="dropped"' in drops and "emostream_ingest_reconnects_total" in drops
    [memory] = exprs["Resident memory per role"]
    assert "process_resident_memory_bytes" in memory and "emostream_build_info" in memory, memory
    assert "process_cpu_seconds_total" in exprs["CPU per role"][0]


def test_grafana_provisioning_points_at_the_dashboard_and_a_prometheus_datasource() -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "emostream.yml").read_text())
    assert datasources["apiVersion"] == 1 and [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    assert providers["apiVersion"] == 1 and providers["providers"][0]["type"] == "file"
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus", "panels pick the Prometheus datasource through a variable"
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"]), "panel ids must be unique"


def test_docs_metrics_documents_every_metric() -> None:
    doc = (REPO / "docs" / "metrics.md").read_text()
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in exported_metric_names()}
    missing = sorted(name for name in families if name not in doc)
    assert not missing, f"docs/metrics.md does not document: {missing}"


def test_the_emotion_share_stacks_one_source_per_panel_to_100_percent() -> None:
    """Stacked over several sources the shares would add up to N x 100%: one panel per source, one series per emotion."""
    [panel] = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["title"].startswith("Emotion share over time")]
    stacking = panel["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"]
    if stacking != "none":
        assert panel.get("repeat") == "source", "a stacked share panel must be repeated per source"
        [target] = panel["targets"]
        assert re.search(r"\bby \(emotion\)", target["expr"]), f"one series per emotion within a source: {target['expr']}"
    assert panel["fieldConfig"]["defaults"]["max"] == 1


def test_the_rules_describe_what_they_do() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "alerts.yml").read_text())
    [dropped] = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "EmostreamFramesDropped"]
    assert "pacing keeps" not in dropped["annotations"]["description"], "frames above a source's fps are skipped, not dropped"
    recording = (PROMETHEUS_DIR / "rules" / "recording.yml").read_text()
    [comment] = [line for line in recording.splitlines() if "Latency quantiles per stage" in line]
    stages = ("decode_detect", "queue", "inference", "capture_to_publish", "capture_to_aggregate")
    assert all(stage in comment for stage in stages), comment


def test_prometheus_sends_alerts_to_alertmanager() -> None:
    for config_file in (PROMETHEUS_DIR / "prometheus.yml", REPO / "ops" / "docker" / "prometheus.yml"):
        config = yaml.safe_load(config_file.read_text())
        targets = [t for am in config["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
        assert targets and all(t.endswith(":9093") for t in targets), f"{config_file}: {targets}"


def test_amtool_accepts_the_alertmanager_configuration_and_the_receiver_examples() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager; scripts/system-deps.sh installs it)")
    files = sorted((REPO / "ops" / "alertmanager").glob("*.yml"))
    assert {f.name for f in files} >= {"alertmanager.yml", "receivers.example.yml"}
    result = run(amtool, "check-config", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    example = yaml.safe_load((REPO / "ops" / "alertmanager" / "receivers.example.yml").read_text())
    [operators] = [r for r in example["receivers"] if r["name"] == example["route"]["receiver"]]
    assert {"webhook_configs", "slack_configs", "email_configs"} <= set(operators), "the example shows each kind of receiver"
