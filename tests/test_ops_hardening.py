"""Operability basics of the deployment files, checked without tools (checkov checks them too).

Every pod runs without a service-account token (none calls the Kubernetes API);
Redis is restarted when it stops answering; camera passwords reach ingest as
files of a Secret volume, never in the ConfigMap or an environment variable; both
Dockerfiles have a HEALTHCHECK, whose script is exercised here against real HTTP
servers (200, 503, nothing listening).
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from emostream.config import parse_config
from tests.test_ops_files import DOCKER, find, k8s_objects

HEALTHCHECK = DOCKER / "healthcheck.py"


def pods() -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in k8s_objects() if o["kind"] in ("Deployment", "StatefulSet")}


def test_no_pod_mounts_a_service_account_token() -> None:
    mounting = [name for name, spec in pods().items() if spec.get("automountServiceAccountToken") is not False]
    assert not mounting, f"pods that never call the Kubernetes API must set automountServiceAccountToken: false: {mounting}"


def test_redis_is_restarted_when_it_stops_answering_commands() -> None:
    [container] = pods()["redis"]["containers"]
    command = " ".join(container["livenessProbe"]["exec"]["command"])
    assert "redis-cli ping" in command and "PONG" in command, f"the liveness probe must ask Redis for PONG: {command}"
    assert "/var/run/secrets/emostream/redis/password" in command, "the probe authenticates with the mounted password"


def test_camera_passwords_reach_ingest_as_files_of_a_secret_volume() -> None:
    config = parse_config(yaml.safe_load(find("ConfigMap", "emostream-config")["data"]["emostream.yaml"]), "ops/k8s/configmap.yaml")
    spec = pods()["emostream-ingest"]
    [container] = spec["containers"]
    assert not [e for e in container.get("env", []) if "SOURCES" in e["name"]], "sources (and their URLs) must not come from env"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for source in config.sources:
        assert not re.search(r"://[^/@]*:[^/@]*@", source.url), f"{source.id}: no password in the URL"
        assert source.password_file is not None, f"{source.id}: the example camera takes its password from a file"
        volume = volumes[mounts[str(source.password_file.parent)]]
        assert volume["secret"]["secretName"] == "emostream-cameras", f"{source.id}: password_file must be in the cameras Secret"
    template = find("Secret", "emostream-cameras")
    assert {s.id for s in config.sources} <= set(template["stringData"]), "secret.yaml shows a key per camera of the ConfigMap"


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_each_dockerfile_has_a_healthcheck_of_healthz_without_curl(name: str) -> None:
    text = (DOCKER / name).read_text()
    assert re.search(r'^HEALTHCHECK .*\\\n\s+CMD \["python", "/usr/local/bin/emostream-healthcheck"\]', text, re.M), name
    assert "COPY ops/docker/healthcheck.py /usr/local/bin/emostream-healthcheck" in text, name
    instructions = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in instructions if "curl" in line], f"{name}: the health check uses Python's urllib"
    # Each role image of the CPU Dockerfile asks the port it exposes.
    roles = re.findall(r"^FROM cpu AS \w+\nENV HEALTHZ_PORTS=(\d+)\nEXPOSE (\d+)", text, re.M)
    assert len(roles) == (3 if name == "Dockerfile" else 0), f"{name}: role stages {roles}"
    for checked, exposed in roles:
        assert checked == exposed, f"{name}: a role image checks {checked} but exposes {exposed}"
    assert "!ops/docker/healthcheck.py" in (DOCKER / f"{name}.dockerignore").read_text(), "the build context must hold the script"


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[int, int]]:
    """Two loopback /healthz servers, answering 200 and 503: port -> status."""
    started = []
    for status in (200, 503):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Health,), {"status": status}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, status))
    yield {s.server_address[1]: status for s, status in started}
    for server, _ in started:
        server.shutdown()
        server.server_close()


def healthcheck(*ports: int) -> int:
    env = {**os.environ, "HEALTHZ_PORTS": " ".join(map(str, ports)), "http_proxy": "http://192.0.2.1:9"}
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, timeout=30).returncode


def closed_port() -> int:
    with http.server.HTTPServer(("127.0.0.1", 0), Health) as probe:
        return int(probe.server_address[1])


def test_the_healthcheck_passes_on_200_and_ignores_ports_where_nothing_listens(servers: dict[int, int]) -> None:
    ok = next(p for p, s in servers.items() if s == 200)
    assert healthcheck(ok) == 0, "a 200 from /healthz is healthy (through a proxy setting it must ignore)"
    assert healthcheck(ok, closed_port()) == 0, "a port where no role runs is passed over"


def test_the_healthcheck_fails_on_an_unhealthy_role_or_when_no_role_answers(servers: dict[int, int]) -> None:
    ok, bad = (next(p for p, s in servers.items() if s == want) for want in (200, 503))
    assert healthcheck(bad) == 1, "503 from /healthz is unhealthy"
    assert healthcheck(ok, bad) == 1, "one unhealthy role makes the container unhealthy"
    assert healthcheck(closed_port()) == 1, "a container where no role answers is unhealthy"
