"""The live web page against a real Redis: state, annotated frames, MJPEG, and a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import redis
from prometheus_client import CollectorRegistry

from emostream.infra.emotions import EMOTIONS
from emostream.infra.httpserver import WorkerHttpServer
from emostream.ingest.preview import PreviewPublisher
from emostream.streams.events import build_event, encode_event
from emostream.streams.keys import Keys
from emostream.viewer.web import WebView
from tests.helpers import face_job

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def demo_frame() -> np.ndarray:
    from emostream.run.pipeline import demo_clip

    with av.open(str(demo_clip())) as clip:
        return next(clip.decode(video=0)).to_ndarray(format="bgr24")


@pytest.fixture
def live(rclient: redis.Redis, prefix: str) -> Iterator[tuple[str, Keys]]:
    """A source 'demo' with a preview frame, two classified faces, a smoothed track and an ended session."""
    keys = Keys(prefix)
    session = "demo-20260101T000000Z-0001"
    boxes = [(104, 114, 122, 122), (406, 121, 128, 128)]
    rclient.sadd(keys.sources, "demo")
    PreviewPublisher(rclient, keys, "demo", fps=5, max_width=640, blur=False).publish(demo_frame(), session, 3, boxes, [1, 2])
    for track, label in ((1, "happy"), (2, "neutral")):
        probs = np.full(7, 0.02, np.float32)
        probs[EMOTIONS.index(label)] = 0.88
        job = face_job(source="demo", session=session, seq=3, track=track, box=boxes[track - 1])
        rclient.xadd(keys.events("demo"), encode_event(build_event(job, probs, "m", "1", 1, 1, time.time())))
    smoothed = {"type": "update", "session": session, "track_id": 2, "after": {"label": "sad", "score": 0.5}}
    rclient.xadd(keys.tracks("demo"), {"v": "1", "type": "update", "data": json.dumps(smoothed)})
    summary = {"session": "demo-older", "source": "demo", "ended_at": "2026-01-01T00:00:10Z", "faces": 12,
               "emotions": {"share": dict.fromkeys(EMOTIONS, 0.0) | {"happy": 1.0}}}
    rclient.xadd(keys.sessions, {"v": "1", "data": json.dumps(summary)})  # only what the page shows
    server = WorkerHttpServer("127.0.0.1", 0, CollectorRegistry(), lambda: {"ok": True})
    WebView(rclient, keys).register(server)
    server.start()
    yield f"http://127.0.0.1:{server.port}", keys
    server.stop()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_state_lists_faces_with_smoothed_emotions_shares_and_sessions(live: tuple[str, Keys]) -> None:
    base, _ = live
    status, ctype, body = get(base + "/live/state.json")
    assert status == 200 and ctype == "application/json"
    state = json.loads(body)
    [source] = state["sources"]
    assert source["id"] == "demo" and source["live"]
    faces = {f["track_id"]: f for f in source["faces"]}
    assert faces[1]["label"] == "happy", "without a track event the raw label is shown"
    assert faces[2]["label"] == "sad" and faces[2]["raw_label"] == "neutral", "the smoothed track label wins"
    assert source["share"]["happy"] == 0.5 and source["share"]["neutral"] == 0.5
    assert state["sessions"][0]["session"] == "demo-older" and state["sessions"][0]["timeline_url"].endswith("timeline.png")


def test_frame_is_the_preview_with_faces_drawn(live: tuple[str, Keys], rclient: redis.Redis) -> None:
    base, keys = live
    status, ctype, body = get(base + "/live/demo.jpg")
    assert status == 200 and ctype == "image/jpeg"
    annotated = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    raw = cv2.imdecode(np.frombuffer(rclient.get(keys.preview("demo")), np.uint8), cv2.IMREAD_COLOR)
    assert annotated.shape == raw.shape
    assert np.mean(cv2.absdiff(annotated, raw)) > 1, "boxes and bars should be drawn on the frame"


def test_mjpeg_stream_sends_jpeg_parts(live: tuple[str, Keys]) -> None:
    base, _ = live
    with urllib.request.urlopen(base + "/live/demo.mjpg", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        head = response.read(200)
    assert b"--emostreamframe" in head and b"Content-Type: image/jpeg" in head


def test_unknown_source_is_404(live: tuple[str, Keys]) -> None:
    base, _ = live
    assert get(base + "/live/nope.jpg")[0] == 404
    assert get(base + "/live/demo.gif")[0] == 404


def test_preview_publisher_respects_fps_blur_and_expiry(rclient: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    now = [0.0]
    publisher = PreviewPublisher(rclient, keys, "cam", fps=2, max_width=320, blur=True, ttl_s=5, clock=lambda: now[0])
    frame = demo_frame()
    assert publisher.publish(frame, "s", 0, [(104, 114, 122, 122)], [1])
    assert not publisher.publish(frame, "s", 1, [], []), "a second preview within 0.5 s must be skipped"
    now[0] = 0.6
    assert publisher.publish(frame, "s", 2, [(104, 114, 122, 122)], [1])
    image = cv2.imdecode(np.frombuffer(rclient.get(keys.preview("cam")), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 320, "previews are scaled down to preview_width"
    meta = json.loads(rclient.get(keys.preview_meta("cam")))
    assert meta["faces"][0]["box"] == [52, 57, 61, 61], "boxes are scaled with the frame"
    x, y, w, h = meta["faces"][0]["box"]
    sharp = cv2.Laplacian(cv2.cvtColor(cv2.resize(frame, (320, 180)), cv2.COLOR_BGR2GRAY)[y : y + h, x : x + w], cv2.CV_64F).var()
    blurred = cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[y : y + h, x : x + w], cv2.CV_64F).var()
    assert blurred < sharp / 5, f"the face should be blurred before it leaves ingest ({blurred:.0f} vs {sharp:.0f})"
    assert 0 < rclient.ttl(keys.preview("cam")) <= 5, "previews expire by themselves"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (scripts/system-deps.sh installs it)")
def test_page_renders_in_a_real_browser(live: tuple[str, Keys], tmp_path: Path) -> None:
    base, _ = live
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-live.png"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=4000", "--window-size=1100,1400"]
    dom = subprocess.run([*common, "--dump-dom", base + "/"], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-source="demo"' in html, "the page should show a card for the demo source"
    assert 'data-track="1"' in html and "happy" in html and "sad" in html, "faces with their emotions should be listed"
    assert 'class="bar"' in html and "demo-older" in html
    subprocess.run([*common, f"--screenshot={shot}", base + "/"], capture_output=True, timeout=90, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
