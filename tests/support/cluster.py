"""A real Redis Cluster on loopback for the tests: ``redis-server --cluster-enabled yes`` nodes joined by ``redis-cli --cluster create``.

Every node gets a free port and a private directory (its ``nodes.conf``); the
cluster is ready when every node reports ``cluster_state:ok`` and agrees on
the slot map. Nothing is persisted, so killing a master loses what its replica
had not received yet: the failover test counts exactly that.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot


def command(client: redis.Redis, *args: Any) -> Any:
    """A raw command (CLUSTER ...), typed for mypy."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def free_port() -> int:
    # Cluster nodes also listen on port + 10000 (the bus), so both must be free.
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port > 55000:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@dataclass(frozen=True)
class ClusterTls:
    """PEM files for a cluster on TLS only (clients, the cluster bus and replication): the CA, the nodes' server
    certificate and key, and the client certificate and key the nodes present to each other on the bus."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


class ClusterNode:
    def __init__(self, port: int, root: Path, node_timeout_ms: int, password: str | None = None, tls: ClusterTls | None = None) -> None:
        self.port = port
        self.password = password
        self.tls = tls
        self.dir = root / str(port)
        self.dir.mkdir()
        self.node_timeout_ms = node_timeout_ms
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: the cluster tests need it")
        ports = ["--port", str(self.port)]
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cluster", "yes", "--tls-replication", "yes",
                     "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                     "--tls-client-cert-file", str(self.tls.client_cert), "--tls-client-key-file", str(self.tls.client_key),
                     "--tls-auth-clients", "no"]
        args = [binary, *ports, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
                "--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> redis.Redis:
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, password=self.password, **tls)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the node stops reading, so a replica falls behind its master."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused node would never handle SIGTERM
            self.proc.terminate()
            self.proc.wait(10)


class RedisClusterServer:
    """``masters`` masters with ``replicas`` replicas each, slots split evenly by ``redis-cli --cluster create``."""

    def __init__(
        self, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000, password: str | None = None, tls: ClusterTls | None = None
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="emostream-cluster-"))
        self.password, self.tls = password, tls
        self.nodes = [ClusterNode(free_port(), self.root, node_timeout_ms, password, tls) for _ in range(masters * (1 + replicas))]
        self.masters_n, self.replicas = masters, replicas

    @property
    def url(self) -> str:
        """A seed URL: the first node that is still alive (the client discovers the others)."""
        node = next(n for n in self.nodes if n.alive())
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{node.port}"

    def start(self) -> RedisClusterServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for node in self.nodes:
            node.start()
        for i, node in enumerate(self.nodes):
            for attempt in range(3):
                try:
                    self._wait_ping(node)
                    break
                except RuntimeError:
                    # Free when chosen, taken since: a client's outgoing connection may get the port or its bus port
                    # (both are ephemeral ports). A node that could not bind exits; start it again on other ports.
                    if node.alive() or attempt == 2:
                        raise
                    node = self.nodes[i] = ClusterNode(free_port(), self.root, node.node_timeout_ms, self.password, self.tls)
                    node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not on PATH: the cluster tests need it")
        args = [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        if self.password:
            args += ["-a", self.password, "--no-auth-warning"]
        if self.tls:
            args += ["--tls", "--cacert", str(self.tls.ca)]
        done = subprocess.run(args, capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout.decode()[-500:]} {done.stderr.decode()[-500:]}")
        self.wait_ok()

    def _wait_ping(self, node: ClusterNode, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                node.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or not node.alive():
                    raise RuntimeError(f"cluster node on port {node.port} did not start") from None
                time.sleep(0.05)

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok`` and every live replica has synced with its master."""
        deadline = time.monotonic() + timeout_s
        while True:
            if all(self._ready(n) for n in self.nodes if n.alive()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    @staticmethod
    def _ready(node: ClusterNode) -> bool:
        try:
            client = node.client()
            if command(client, "CLUSTER INFO").get("cluster_state") != "ok":
                return False
            repl = client.info("replication")
            return repl["role"] == "master" or repl.get("master_link_status") == "up"
        except redis.RedisError:
            return False

    def masters(self) -> list[ClusterNode]:
        """The live nodes that are masters now (a failover changes which)."""
        out = []
        for node in self.nodes:
            if node.alive():
                try:
                    if node.client().info("replication")["role"] == "master":
                        out.append(node)
                except redis.RedisError:
                    continue
        return out

    def master_of(self, key: str) -> ClusterNode:
        """The live master that serves ``key`` now."""
        slot = key_slot(key.encode())
        for node in self.masters():
            client = node.client()
            me = command(client, "CLUSTER MYID").decode()
            for start, end, master, *_ in command(client, "CLUSTER SLOTS"):
                if start <= slot <= end and master[2].decode() == me:
                    return node
        raise RuntimeError(f"no live master owns the slot of {key!r}")

    def replica_of(self, master: ClusterNode) -> ClusterNode:
        """The live replica that follows ``master``."""
        for node in self.nodes:
            if node is not master and node.alive():
                info = node.client().info("replication")
                if info["role"] == "slave" and int(info["master_port"]) == master.port:
                    return node
        raise RuntimeError(f"no live replica follows the master on port {master.port}")

    def flush(self) -> None:
        for node in self.masters():
            node.client().flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
