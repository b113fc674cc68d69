"""``emostream run``: the whole pipeline on one machine, as separate processes.

Starts a private embedded Redis-compatible server when none is configured,
then the aggregator, the classifier and ingest (dependency order), each as its
own OS process talking only through Redis. While they run, the terminal shows
the faces and their emotions as events arrive. When every file source has
ended and its session summary is out, the workers are stopped in reverse
order (ingest first, then classifier, then aggregator) and the summaries are
printed, each with the media duration and the time it took to process.

Details at :class:`Pipeline`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from emostream.client.follow import follow_events, format_event
from emostream.config import Config, SourceConfig, dump_config
from emostream.run import reaper
from emostream.run.live import LiveView
from emostream.run.report import failed_sources, print_failed, print_summary
from emostream.run.spawn import http_sockets, spawn, with_ports
from emostream.streams.connection import RETRYABLE, connect
from emostream.streams.embedded import EmbeddedRedis
from emostream.streams.errors import RedisUnavailable
from emostream.streams.keys import Keys
from emostream.streams.lifecycle import SessionStart, decode_lifecycle
from emostream.streams.records import decode_summary
from emostream.streams.wire import MessageError

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The pipeline could not start (Redis, the embedded server, the worker config); the message says why."""


ROLES = ("aggregate", "classify", "ingest")  # start order; stopped in reverse


def stop_process(proc: subprocess.Popen[bytes], name: str, timeout: float = 30.0) -> int:
    """SIGTERM, so the worker drains; SIGKILL if it has not exited after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", name, timeout)
            proc.kill()
            proc.wait()
    return proc.returncode


def demo_clip() -> Path:
    return Path(str(resources.files("emostream") / "assets" / "demo" / "demo.mp4"))


def default_sources() -> list[SourceConfig]:
    return [SourceConfig(id="demo", url=str(demo_clip()))]


class Pipeline:
    """Ctrl-C stops the run as the end of the files does: the workers run in process groups of
    their own, so the interrupt reaches only this command, which stops ingest
    first (its sessions end and are summarised) and then the others. With only
    file sources, a source that could not be opened or failed while reading is
    listed after the summaries, and the command exits 1.
    """

    def __init__(self, config: Config, live_view: bool = True, child_log_level: str = "WARNING") -> None:
        if not config.sources:
            config = config.model_copy(update={"sources": default_sources()})
        self.config = config
        self.keys = Keys(config.redis.prefix)
        self.live_view = live_view
        self.child_log_level = child_log_level
        self.embedded: EmbeddedRedis | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stop = threading.Event()
        self._started_at = time.time()
        self.started_sources: set[str] = set()  # sources that started a session in this run

    # --- processes --------------------------------------------------------

    def _spawn(self, role: str, config_text: str, sock: socket.socket | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}  # all settings come through the pipe
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.children[role] = spawn(role, config_text, sock, self.child_log_level, env)
        log.info("started %s (pid %d)", role, self.children[role].pid)

    def _stop_child(self, role: str, timeout: float = 30.0) -> int | None:
        proc = self.children.get(role)
        return None if proc is None else stop_process(proc, role, timeout)

    def _start(self) -> None:
        """Redis first (nothing is started for a Redis that refuses us), then the HTTP sockets, then the workers.

        Nothing is written to disk: each worker gets its configuration (which
        may hold the Redis password) through a pipe, see :mod:`emostream.run.spawn`.
        """
        config = self.config
        if not config.redis.url:
            self.embedded = EmbeddedRedis().start()
            self._reaper = reaper.start(self.embedded.pid, self.embedded.folder)  # ends it if this runner is killed
            config = config.model_copy(update={"redis": config.redis.model_copy(update={"url": self.embedded.url})})
            self.config = config
        connect(config.redis).close()
        sockets, notes = http_sockets(config)
        try:
            for note in notes:
                print(f"emostream run: {note}", file=sys.stderr, flush=True)
            self.config = config = with_ports(config, sockets)
            text = dump_config(config)
            for role in ROLES:
                self._spawn(role, text, sockets.get(role))
        finally:
            for sock in sockets.values():
                sock.close()  # the workers hold their own copies
        if config.web.enabled:
            print(f"Live web view: http://{config.http.host}:{config.http.aggregator_port}/", flush=True)

    def _shutdown(self) -> dict[str, int | None]:
        codes = {role: self._stop_child(role) for role in reversed(ROLES)}
        if self._reaper is not None:
            self._reaper.kill()  # no clean-up from it: the server is stopped here
            self._reaper.wait()
        if self.embedded is not None:
            self.embedded.stop()
        return codes

    # --- watching ---------------------------------------------------------

    def _sessions(self, client: Any) -> tuple[set[str], dict[str, dict[str, Any]]]:
        """Sessions this run started so far, and their summaries published so far.

        Stream ids are millisecond timestamps, so reading from the run's start
        skips whatever earlier runs left in a shared Redis.
        """
        since = f"{int(self._started_at * 1000)}-0"
        started: set[str] = set()
        for _, fields in client.xrange(self.keys.lifecycle, min=since):
            try:
                message = decode_lifecycle(fields)
            except MessageError:  # not ours to judge: the aggregator dead-letters it
                continue
            if isinstance(message, SessionStart):
                started.add(message.session)
                self.started_sources.add(message.source)
        summaries = {}
        for _, fields in client.xrange(self.keys.sessions, min=since):
            try:
                summary = decode_summary(fields)
            except MessageError:
                continue
            if summary.session in started:
                summaries[summary.session] = summary.to_dict()
        return started, summaries

    def _sessions_now(self, client: Any) -> tuple[set[str], dict[str, dict[str, Any]]] | None:
        """:meth:`_sessions`, or None while Redis is unreachable (the workers ride the outage out, and so does the run)."""
        try:
            return self._sessions(client)
        except RETRYABLE as exc:
            log.debug("sessions not readable now: %s", exc)
            return None

    def run(self) -> int:
        self._handle_signals()
        client = self._start_and_connect()
        view = LiveView(sys.stdout, enabled=self.live_view)
        summaries: dict[str, dict[str, Any]] = {}
        failed_role: str | None = None
        interrupted = False
        try:
            failed_role, summaries = self._follow(client, view)
            interrupted = self.stop.is_set()
            if interrupted:
                # Let ingest end its sessions, then give the aggregator time to summarise.
                self._stop_child("ingest")
                summaries = self._wait_for_summaries(client, time.monotonic() + self.config.aggregator.end_grace_s + 10, summaries)
            now = self._sessions_now(client)
            summaries = summaries if now is None else now[1]
        finally:
            view.close()
            codes = self._shutdown()
        return self._report(summaries, codes, failed_role, interrupted)

    def _handle_signals(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            self.stop.set()

        signal.signal(signal.SIGINT, on_signal)  # before the start: Ctrl-C then still cleans up
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)  # a closed terminal no longer reaches the workers' own groups

    def _start_and_connect(self) -> Any:
        try:
            self._start()
            return connect(self.config.redis)
        except (RedisUnavailable, OSError, ValueError) as exc:
            self._shutdown()
            raise StartupError(str(exc)) from None
        except BaseException:
            self._shutdown()
            raise

    def _follow(self, client: Any, view: LiveView) -> tuple[str | None, dict[str, dict[str, Any]]]:
        """Show events until every session of the file sources is summarised, a worker fails, or the run is stopped.

        Returns the role that failed, if one did, and the summaries read so far.
        """
        has_live = any(src.is_live for src in self.config.sources)
        started: set[str] = set()
        summaries: dict[str, dict[str, Any]] = {}
        failed_role = None
        ingest_done_at: float | None = None
        for event in follow_events(client, self.keys, block_ms=250, stop=self.stop.is_set, since_ms=int(self._started_at * 1000)):
            if event is not None:
                view.show(event)
            else:
                view.refresh()
            for role, proc in self.children.items():
                if role != "ingest" and proc.poll() is not None:
                    failed_role = role
            if failed_role:
                log.error("%s exited with code %s; stopping the pipeline", failed_role, self.children[failed_role].returncode)
                return failed_role, summaries
            ingest = self.children["ingest"]
            if ingest.poll() is None or has_live:
                continue
            if ingest.returncode != 0:
                return "ingest", summaries
            ingest_done_at = ingest_done_at or time.monotonic()
            done, started, summaries = self._progress(client, started, summaries)
            if done:
                break
            if time.monotonic() - ingest_done_at > self.config.aggregator.end_grace_s + 30:
                log.error("sessions %s were never summarised", sorted(started - set(summaries)))
                break
        return None, summaries

    def _progress(
        self, client: Any, started: set[str], summaries: dict[str, dict[str, Any]]
    ) -> tuple[bool, set[str], dict[str, dict[str, Any]]]:
        """Whether every session this run started is summarised, with the sessions and summaries; the last known while Redis is away."""
        now = self._sessions_now(client)
        if now is None:
            return False, started, summaries
        started, summaries = now
        return started <= set(summaries), started, summaries

    def _wait_for_summaries(self, client: Any, deadline: float, summaries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        started: set[str] = set()
        while time.monotonic() < deadline:
            done, started, summaries = self._progress(client, started, summaries)
            if done:
                break
            time.sleep(0.2)
        return summaries

    def _report(self, summaries: dict[str, dict[str, Any]], codes: dict[str, int | None], failed_role: str | None, interrupted: bool) -> int:
        """Print the summaries and what failed; the exit code."""
        has_live = any(src.is_live for src in self.config.sources)
        for summary in summaries.values():
            print_summary(summary, self.config.aggregator.summary_dir)
        # A worker that failed (at start-up, say) is the cause: its sources are not to blame.
        quiet = interrupted or has_live or failed_role is not None
        failed = {} if quiet else failed_sources(self.config.sources, self.started_sources, summaries.values())
        if failed:
            print_failed(failed)
        # -SIGTERM: a worker that had not yet set up its handler when this runner stopped it.
        bad = {role: code for role, code in codes.items() if code not in (0, None, -signal.SIGTERM)}
        if failed_role or bad:
            print(f"emostream: worker(s) failed: {bad or failed_role}", file=sys.stderr)
            return 1
        if failed:
            print(f"emostream: {len(failed)} source(s) failed: {', '.join(sorted(failed))}", file=sys.stderr)
            return 1
        return 0


__all__ = ["Pipeline", "demo_clip", "format_event", "print_summary"]
