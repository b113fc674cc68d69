"""Sections of the analysing stages: ``tracker``, ``ingest`` and ``classifier`` (``detector`` in :mod:`.detector`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from emostream.config.base import Section
from emostream.config.detector import DetectorConfig

__all__ = ["ClassifierConfig", "DetectorConfig", "IngestConfig", "TrackerConfig"]


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
    low_score: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Detections scoring from this up to detector.min_score only continue existing tracks (a face the detector is "
        "briefly unsure about keeps its track); they never start one. YuNet and BlazeFace; at or above the detector's min_score: off.",
    )
    appearance_distance: float = Field(
        0.17,
        ge=0,
        le=2,
        description="Largest appearance difference (distance of face descriptors, one scale for colour and gray) at which a detection may continue a track: "
        "a different person at the same place starts a new track at once. 0: match by position only.",
    )
    reid_window_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="A person who leaves and comes back within this many seconds (session time) gets their earlier track id back; "
        "their face descriptor is kept in memory only that long. 0: off. Needs tracks.end_after_s at least as long.",
    )
    reid_distance: float = Field(
        0.12, gt=0, le=2, description="Largest appearance difference at which a returning face is taken for a person who left."
    )
    confirm_hits: int = Field(
        1,
        ge=1,
        le=30,
        description="A new track is published once this many consecutive analysed frames found it (or at once, see confirm_score) "
        "and, with detector.check on, its face passed the check; until then its faces are counted as unconfirmed, not published, "
        "and a track that misses a frame before then ends unconfirmed. 1 (the default): from its first frame once the check "
        "passes. With detector.check off, ~30 stops most single-frame and weak false faces.",
    )
    confirm_score: float = Field(
        0.7,
        ge=0,
        le=1.01,
        description="A detection scoring at least this gives its new track the evidence confirm_hits would (the check still "
        "applies). Above 1: only confirm_hits does.",
    )
    check_tries: int = Field(
        3,
        ge=1,
        le=10,
        description="detector.check: how often a new track's face is checked before the track is given up (never published): at "
        "its first frame with the evidence, then 1, 2, 4 ... frames after each failure.",
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
    session_max_s: float = Field(
        0.0,
        ge=0,
        description="A live session that has run this long ends (reason max_duration) and the next frame starts a new one: a summary "
        "per period, and Redis memory of open sessions bounded (about 104 B per event counted). 0: no limit. Files are never cut.",
    )
    reconnect_initial_s: float = Field(0.5, gt=0, description="First reconnect delay; doubles each try, with jitter.")
    reconnect_max_s: float = Field(10.0, gt=0, description="Longest reconnect delay (so a camera that is back is found within this long).")
    reconnect_attempts: int = Field(0, ge=0, description="Give up after this many failed reconnects in a row (0: never).")
    open_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout for opening a network source.")
    read_timeout_s: float = Field(
        3.0, gt=0, le=120, description="A live source that delivers nothing for this long is a disconnect (stalled)."
    )
    max_frame_pixels: int = Field(
        100_000_000, ge=1, description="Frames (and `analyze` images) with more pixels are refused before they are decoded, bounding memory."
    )
    exit_at_end: bool = Field(True, description="Exit once every source has ended (files). False keeps /metrics up until stopped.")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="This ingest worker's name, for `emostream sources` (run-time add/remove). Empty: the host name.",
    )
    control: bool = Field(True, description="Accept sources added and removed at run time (`emostream sources add/remove`, via Redis).")
    decode_ahead: int = Field(
        2,
        ge=0,
        le=16,
        description="Files: frames decoded, converted and detected on a thread of the source's own, ahead of tracking and publishing "
        "(the stages overlap; each frame held costs its pixels in memory). 0: every stage on the source's thread, one after another. "
        "Live sources always decode on their own thread and keep only the newest frame.",
    )
    publish_behind: int = Field(
        2,
        ge=0,
        le=64,
        description="Analysed frames a source may hand to the worker's writer thread before it waits; the writer puts everything "
        "handed over (any sources) in one transaction per faces shard, each frame's faces with its checkpoint as before. "
        "0: each frame written on its source's thread, one round trip per frame.",
    )
    detect_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="Files, with decode_ahead: threads that run the detector on the frames the worker's decode threads hand over, "
        "each with a detector of its own, shared by the worker's file sources, so that one source's detection frames are detected "
        "side by side on every core (built when the first file source starts; each detector holds ~17 MB, ~110 MB after 1080p "
        "frames). 0: one per usable core, divided among the role's ingest.processes; 1: each decode thread detects its own "
        "frames, one at a time. Live sources detect on their own thread.",
    )
    detect_batch: int = Field(
        0,
        ge=0,
        le=8,
        description="detector.backend blazeface: one detector shared by the worker's sources, taking up to this many frames that "
        "wait at the same moment as one batch (one model in memory instead of one per source). 0 or 1: each source has its own.",
    )

    processes: int = Field(
        1,
        ge=0,
        le=256,
        description="Processes the ingest role runs its sources in (Python runs one thread at a time per process: one process keeps "
        "about 1.2 cores busy). Each is an ingest worker with a share of the sources, against the same Redis, with the same "
        "checkpoints; configured sources are dealt in turn, sources added at run time by a hash of their id. At most one per "
        "configured source; `/metrics` and `/healthz` on `http.ingest_port` show them together. A child that dies is started "
        "again alone, after a backoff, and its sources resume from their checkpoints. "
        "0: one per usable core (CPU affinity and a container's CPU limit).",
    )

    @model_validator(mode="after")
    def _backoff_bounds(self) -> IngestConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("ingest.reconnect_initial_s must not exceed ingest.reconnect_max_s")
        return self


class ClassifierConfig(Section):
    model: str = Field("", description="Model folder, or the name of a packaged model. Empty: the default packaged model (`fast`; see docs/MODEL.md).")
    format: Literal["auto", "keras", "tflite"] = Field(
        "auto", description="Which weights of the model folder to serve. auto: keras when its backend sees a GPU, else tflite if the folder has it."
    )
    backend: Literal["auto", "tensorflow", "jax", "torch"] = Field(
        "auto",
        description="Keras 3 backend of the keras format, fixed at start-up. auto: the first of jax, torch, tensorflow that is "
        "installed and sees a GPU; with none, the CPU path (tflite; keras on CPU uses KERAS_BACKEND or TensorFlow).",
    )
    gpu_memory_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Most of the GPU's memory this replica may take (jax, torch); 0: allocated on demand, no preallocation "
        "(tensorflow always grows on demand). XLA_PYTHON_CLIENT_* variables already set win.",
    )
    prior_tau: float | None = Field(
        None, ge=0, le=10, allow_inf_nan=False,
        description="Strength of the model card's calibrated class priors (logit adjustment; docs/classifier.md): 0 turns them off. "
        "Unset: the card's prior_tau (0.15 for fast).",
    )
    batch_max: int = Field(
        32, ge=1, le=16_384, description="Most faces in one forward pass (a GPU wants thousands: 4096 on an H200, docs/BENCHMARKS.md)."
    )
    batch_wait_ms: float = Field(
        20.0, ge=0, le=10_000, description="Longest a batch keeps filling while the model is busy, from its first face (no wait while the model is idle)."
    )
    threads: int = Field(0, ge=0, le=256, description="CPU threads for inference: TFLite num_threads, TensorFlow intra-op pool (0: all cores).")
    mixed_precision: bool = Field(
        False, description="Compute in bfloat16 on a GPU that has it (compute capability 8.0+), else float16 (keras format; ignored on CPU)."
    )
    shards: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list,
        description="The faces shards (0-based, of redis.faces_shards) this replica serves; empty: every shard. "
        "E.g. GPU replicas on some shards, CPU replicas on others; every shard needs at least one replica.",
    )
    claim_idle_ms: int = Field(10_000, ge=100, description="Faces pending this long at a dead replica are claimed by another.")
    deadletter_pixels: bool = Field(
        False, description="Keep the face crop in dead letters (for debugging); by default only its size is kept."
    )
    max_deliveries: int = Field(3, ge=1, description="A face delivered this many times without success goes to the dead-letter stream.")
