"""The live page on the real pipeline: demo clip at real-time pace, checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import RedisServer, free_port
from tests.e2e.test_pipeline import spawn
from tests.helpers import stop_roles, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_the_page_shows_frames_and_emotion_bars_for_the_demo_clip(
    redis_server: RedisServer, prefix: str, tmp_path: Path, demo_clip: Path
) -> None:
    port = free_port()
    config = {
        "redis": {"url": redis_server.url, "prefix": prefix},
        "sources": [{"id": "demo", "url": str(demo_clip), "realtime": True, "loop": True}],
        "http": {"aggregator_port": port, "classifier_port": 0, "ingest_port": 0},
        "aggregator": {"summary_dir": str(tmp_path / "sessions")},
        "web": {"enabled": True},
    }
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(config))
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}
    base = f"http://127.0.0.1:{port}"
    try:

        def faces_in_view() -> bool:
            try:
                with urllib.request.urlopen(base + "/live/state.json", timeout=3) as response:
                    state = json.loads(response.read())
            except OSError:
                return False
            return any(src["faces"] and src["live"] for src in state["sources"])

        wait_for(faces_in_view, 120, "the page state never showed a face")
        ARTIFACTS.mkdir(exist_ok=True)
        common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--window-size=1000,1300"]
        dom = subprocess.run([*common, "--dump-dom", base + "/"], capture_output=True, text=True, timeout=90)
        shot = ARTIFACTS / "web-live-pipeline.png"
        subprocess.run([*common, f"--screenshot={shot}", base + "/"], capture_output=True, timeout=90, check=True)
    finally:
        codes = stop_roles(procs)
    logs = {role: (tmp_path / f"{role}.log").read_text()[-2000:] for role in procs}
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-source="demo"' in html, "a card for the demo source"
    assert 'class="frame"' in html and "/live/demo.mjpg" in html, "the card shows the live frame stream"
    assert "data-track=" in html and 'class="bar"' in html, "faces with their emotion bars are listed"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert codes == {"aggregate": 0, "classify": 0, "ingest": 0}, logs
