"""Configuration: one YAML file plus ``EMOSTREAM_*`` environment variables.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is
an error that names it. Environment variables override the file: nested keys
are joined with a double underscore (``EMOSTREAM_CLASSIFIER__BATCH_MAX=64``) and
values are parsed as YAML (``EMOSTREAM_SOURCES='[{id: cam1, url: rtsp://...}]'``).
Nothing here reads the environment at import time: :func:`load_config` takes
the environment as an argument.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "EMOSTREAM_"
# Variables that configure the command itself, not a key of the file.
ENV_RESERVED = {"EMOSTREAM_CONFIG", "EMOSTREAM_FER2013_DIR"}
SOURCE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
TLS_FIELDS = ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_insecure")


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RedisConfig(Section):
    url: str | None = Field(
        None,
        description="Redis URL (redis://, rediss:// for TLS, unix://). Empty: `emostream run` starts a private embedded server.",
    )
    username: str | None = Field(None, description="ACL user, if not in the URL. Empty: the `default` user.")
    password: str | None = Field(None, description="Password, if not in the URL. Prefer password_file or EMOSTREAM_REDIS__PASSWORD.")
    password_file: Path | None = Field(None, description="File holding the password (first line), e.g. a mounted secret.")
    tls_ca_file: Path | None = Field(
        None, description="rediss://: CA certificate(s) (PEM) to verify the server with. Empty: the system's trusted CAs."
    )
    tls_cert_file: Path | None = Field(None, description="rediss://: client certificate (PEM), for servers with `tls-auth-clients yes`.")
    tls_key_file: Path | None = Field(None, description="rediss://: private key of tls_cert_file, if not in that file.")
    tls_insecure: bool = Field(False, description="rediss://: do not verify the server's certificate and host name. For testing only.")
    prefix: str = Field("emostream", min_length=1, max_length=64, description="Prefix of every key and stream.")
    faces_maxlen: int = Field(20_000, ge=100, description="Approximate cap of the internal faces stream (MAXLEN ~).")
    events_maxlen: int = Field(100_000, ge=100, description="Approximate cap of each per-source events stream.")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Socket connect timeout.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        # Checked here so a typo fails at validation, not at the first connection of a worker.
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with {', '.join(REDIS_SCHEMES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RedisConfig:
        if self.password and self.password_file:
            raise ValueError("set redis.password or redis.password_file, not both")
        tls = [name for name in TLS_FIELDS if getattr(self, name)]
        if tls and not (self.url or "").startswith("rediss://"):
            raise ValueError(f"redis.{tls[0]} needs a rediss:// URL in redis.url")
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("redis.tls_key_file needs redis.tls_cert_file")
        return self

    def resolved_password(self) -> str | None:
        """The password from ``password_file`` (read now, so a rotated secret is picked up) or ``password``.

        A file that is configured but unreadable is an error rather than "no password": connecting
        without one would fail later with a less helpful NOAUTH.
        """
        if self.password_file:
            try:
                lines = self.password_file.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"redis.password_file {self.password_file}: cannot read it ({type(exc).__name__})") from None
            password = lines[0].strip() if lines else ""
            if not password:
                raise ConfigError(f"redis.password_file {self.password_file}: the first line is empty")
            return password
        return self.password


class SourceConfig(Section):
    id: str = Field(description="Short id used in stream names, metrics and events (letters, digits, _ . -).")
    url: str = Field(description="File path, rtsp:// or http(s):// URL, /dev/videoN or a webcam index.")
    live: bool | None = Field(None, description="Live source (newest frame only, reconnects). Default: guessed from the URL.")
    fps: float = Field(10.0, gt=0, le=120, description="Live sources: at most this many frames analysed per second.")
    every_nth: int = Field(1, ge=1, description="Files: analyse every n-th frame.")
    realtime: bool = Field(False, description="Files: play at the clip's own pace instead of as fast as possible.")
    loop: bool = Field(False, description="Files: start again at the end (one session per pass).")
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport: tcp (reliable, default) or udp (lower latency on a clean network)."
    )
    password_file: Path | None = Field(
        None,
        description="File holding the camera password (first line), put into the URL's user part (`rtsp://user@host/...`) at each connect.",
    )

    @field_validator("id")
    @classmethod
    def _id_chars(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError("source id must be 1-64 letters, digits, '_', '.' or '-'")
        return value

    @model_validator(mode="after")
    def _user_for_password_file(self) -> SourceConfig:
        if self.password_file is not None and "@" not in self.url.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("password_file needs a user name in the URL, e.g. rtsp://admin@camera/stream")
        return self

    def resolved_url(self) -> str:
        """The URL to connect to: with the password from ``password_file`` filled in (read now, so a rotated secret applies)."""
        if self.password_file is None:
            return self.url
        from urllib.parse import quote

        secret = self.password_file.read_text().splitlines()[0].strip() if self.password_file.exists() else ""
        scheme, rest = self.url.split("://", 1)
        userinfo, host = rest.split("@", 1)
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:{quote(secret, safe='')}@{host}"

    @property
    def is_live(self) -> bool:
        if self.live is not None:
            return self.live
        from emostream.ingest.sources import guess_live

        return guess_live(self.url)


class DetectorConfig(Section):
    backend: Literal["mediapipe", "haar"] = Field("mediapipe", description="Face detector.")
    mediapipe_model: Literal["short", "full"] = Field("short", description="BlazeFace short-range (<2 m) or full-range (<5 m).")
    min_score: float = Field(0.5, ge=0, le=1, description="Minimum detection score (MediaPipe).")
    min_face_px: int = Field(24, ge=4, description="Faces smaller than this (shorter box side, pixels) are skipped and counted.")
    margin: float = Field(0.15, ge=0, le=1, description="Margin added around each box before cropping, as a fraction of its size.")


class TrackerConfig(Section):
    iou_threshold: float = Field(0.3, gt=0, lt=1, description="Minimum IoU to match a detection to a track.")
    max_missed: int = Field(5, ge=0, description="Analysed frames a track survives without a matching detection.")
    max_distance: float = Field(
        1.0,
        ge=0,
        le=10,
        description="When boxes do not overlap (fast motion at a low analysis rate), a detection whose centre is within this many "
        "box sizes of a track's last box, and of similar size, continues the track (per analysed frame; 0: IoU only).",
    )


class IngestConfig(Section):
    backlog_max: int = Field(2_000, ge=1, description="Faces waiting for classification above which ingest drops (live) or waits (files).")
    max_queue_age_ms: float = Field(
        800.0,
        ge=0,
        le=600_000,
        description="Freshness bound of live sources, capture to published event: classifiers drop live faces that would be older, and "
        "live sources drop frames (reason age) while a face queued now would wait for a classifier longer than half of what the classifiers' "
        "forward pass leaves of it. "
        "Files never drop. 0: no bound.",
    )
    session_timeout_s: float = Field(30.0, gt=0, description="A live source down longer than this ends its session.")
    reconnect_initial_s: float = Field(0.5, gt=0, description="First reconnect delay; doubles each try, with jitter.")
    reconnect_max_s: float = Field(10.0, gt=0, description="Longest reconnect delay (so a camera that is back is found within this long).")
    reconnect_attempts: int = Field(0, ge=0, description="Give up after this many failed reconnects in a row (0: never).")
    open_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout for opening a network source.")
    read_timeout_s: float = Field(
        3.0, gt=0, le=120, description="A live source that delivers nothing for this long is a disconnect (stalled)."
    )
    exit_at_end: bool = Field(True, description="Exit once every source has ended (files). False keeps /metrics up until stopped.")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="This ingest worker's name, for `emostream sources` (run-time add/remove). Empty: the host name.",
    )
    control: bool = Field(True, description="Accept sources added and removed at run time (`emostream sources add/remove`, via Redis).")

    @model_validator(mode="after")
    def _backoff_bounds(self) -> IngestConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("ingest.reconnect_initial_s must not exceed ingest.reconnect_max_s")
        return self


class ClassifierConfig(Section):
    model: str = Field("", description="Model folder, or the name of a packaged model. Empty: the default packaged model (`ensemble`; see docs/MODEL.md).")
    format: Literal["auto", "keras", "tflite"] = Field(
        "auto", description="Which weights of the model folder to serve. auto: keras when TensorFlow sees a GPU, else tflite if the folder has it."
    )
    batch_max: int = Field(32, ge=1, le=1024, description="Most faces in one forward pass.")
    batch_wait_ms: float = Field(20.0, ge=0, le=10_000, description="Longest wait for a batch to fill, from its first face.")
    threads: int = Field(0, ge=0, le=256, description="CPU threads for inference: TFLite num_threads, TensorFlow intra-op pool (0: all cores).")
    mixed_precision: bool = Field(False, description="float16 compute on a GPU (keras format; ignored on CPU).")
    claim_idle_ms: int = Field(10_000, ge=100, description="Faces pending this long at a dead replica are claimed by another.")
    deadletter_pixels: bool = Field(
        False, description="Keep the face crop in dead letters (for debugging); by default only its size is kept."
    )
    max_deliveries: int = Field(3, ge=1, description="A face delivered this many times without success goes to the dead-letter stream.")


class TracksConfig(Section):
    """Per-track smoothing and the track lifecycle (see docs/aggregator.md)."""

    smoothing: Literal["ema", "vote"] = Field(
        "ema", description="ema: exponential moving average of the probabilities; vote: time-weighted vote of the labels over a window."
    )
    window_s: float = Field(1.0, gt=0, le=600, description="Media seconds: the EMA's time constant, or the length of the vote window.")
    hysteresis: float = Field(0.15, ge=0, lt=1, description="Smoothed score by which a new label must lead the current one to replace it.")
    min_dwell_s: float = Field(
        0.3, ge=0, le=60, description="Media seconds a new label must keep that lead before the track switches to it."
    )
    update_interval_s: float = Field(
        5.0, ge=0, description="Media seconds between periodic 'update' events of a track (0: only on a label change)."
    )
    end_after_s: float = Field(2.0, gt=0, description="A track not seen for this long in session media time ends.")
    idle_end_s: float = Field(
        10.0, gt=0, description="A track that received no event for this long in wall-clock time ends (a live camera with nobody in view)."
    )
    maxlen: int = Field(100_000, ge=100, description="Approximate cap of each per-source tracks stream.")


class AggregatorConfig(Section):
    summary_dir: Path = Field(Path("sessions"), description="Folder for session summaries (JSON) and timeline charts (PNG).")
    end_grace_s: float = Field(30.0, gt=0, description="After a session ends, wait this long for its last events before summarising.")
    share_window_s: float = Field(60.0, gt=0, description="Window of the rolling emotion share metric.")
    chart_bucket_s: int = Field(5, ge=1, le=3600, description="Width of the time buckets of the timeline chart.")
    retention_s: int = Field(30 * 86400, ge=60, description="How long session summaries are kept in Redis.")
    reorder_ms: float = Field(
        500.0, ge=0, le=10_000, description="Events are held this long and applied to their tracks in frame order (out-of-order replicas)."
    )
    claim_idle_ms: int = Field(30_000, ge=100, description="Entries pending this long at another aggregator (a crashed one) are claimed.")
    max_deliveries: int = Field(5, ge=1, description="An entry delivered this many times without success goes to the dead-letter stream.")

    @model_validator(mode="after")
    def _hold_shorter_than_claim(self) -> AggregatorConfig:
        # Held events are pending in Redis; holding them past claim_idle_ms would let another aggregator claim them.
        if self.reorder_ms * 2 > self.claim_idle_ms:
            raise ValueError("aggregator.reorder_ms must be at most half of aggregator.claim_idle_ms")
        return self


class HttpConfig(Section):
    host: str = Field("127.0.0.1", description="Address the /metrics and /healthz endpoints bind to.")
    ingest_port: int = Field(9401, ge=0, le=65535, description="Port of ingest's endpoints (0: pick a free one, -1 never).")
    classifier_port: int = Field(9402, ge=0, le=65535, description="Port of the classifier's endpoints (0: pick a free one).")
    aggregator_port: int = Field(9400, ge=0, le=65535, description="Port of the aggregator's endpoints (0: pick a free one).")


class WebConfig(Section):
    enabled: bool = Field(
        False,
        description="Serve the live web page on the aggregator's port; ingest then keeps each source's latest frame in Redis for it.",
    )
    preview_fps: float = Field(4.0, gt=0, le=30, description="Frames per second each source sends to the web view.")
    preview_width: int = Field(640, ge=64, le=3840, description="Preview frames are scaled down to this width.")
    blur_faces: bool = Field(False, description="Blur faces in the web view (done in ingest, before the frame leaves it).")
    share_window_s: float = Field(300.0, gt=0, description="Window of the emotion share shown per source.")


class Config(Section):
    redis: RedisConfig = Field(default_factory=RedisConfig)
    sources: list[SourceConfig] = Field(default_factory=list, description="Video sources.")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    aggregator: AggregatorConfig = Field(default_factory=AggregatorConfig)
    tracks: TracksConfig = Field(default_factory=TracksConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    log_level: Annotated[str, Field(pattern="^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        ids = [s.id for s in self.sources]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate source id(s): {', '.join(dupes)}")
        return self

    def source(self, source_id: str) -> SourceConfig:
        for src in self.sources:
            if src.id == source_id:
                return src
        raise KeyError(source_id)


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(path)}: {key} is not a section")
        tree = node
    tree[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``EMOSTREAM_A__B=v`` as ``{"a": {"b": yaml(v)}}``."""
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_RESERVED:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        kind = _leaf_kind(path)
        if raw == "":
            value = "" if kind == "text" else None
        elif kind in ("text", "optional text"):
            # Text keys (passwords, URLs, names, paths, prefixes) stay text even when they
            # look like YAML: a prefix "2024" or a password "yes" must not become 2024 or True.
            value = raw
        else:
            try:
                value = yaml.safe_load(raw)
            except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: e.g. a date like 2024-13-45
                value = raw
        _set_path(tree, path, value)
    return tree


def _leaf_kind(path: list[str]) -> str:
    """Whether the key at ``path`` of :class:`Config` holds "text", "optional text", or "other" (parsed as YAML)."""
    model: type[BaseModel] = Config
    for depth, key in enumerate(path):
        info = model.model_fields.get(key)
        if info is None:
            return "other"
        args = get_args(info.annotation) if get_origin(info.annotation) in (UnionType, Union) else (info.annotation,)
        if depth < len(path) - 1:
            sections = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if not sections:
                return "other"
            model = sections[0]
            continue
        textual = all(a in (str, Path, type(None)) for a in args) and any(a in (str, Path) for a in args)
        if not textual:
            return "other"
        return "optional text" if type(None) in args else "text"
    return "other"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_config(data: Mapping[str, Any], origin: str = "configuration") -> Config:
    try:
        return Config.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (if any), apply environment overrides, validate."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {path}: cannot read it ({exc})") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. a date like 2024-13-45
            raise ConfigError(f"{path}: not valid YAML ({str(exc)[:300]})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data, origin = loaded, str(path)
    overrides = env_overrides(environ)
    if overrides:
        data = _merge(data, overrides)
        origin += " + EMOSTREAM_* environment"
    return parse_config(data, origin)


def dump_config(config: Config) -> str:
    """The configuration as YAML, secrets included: for handing to child processes only."""
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
