"""The whole configuration: one field per section, plus the checks that span sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from emostream.config.aggregation import AggregatorConfig, TracksConfig
from emostream.config.base import Section
from emostream.config.connection import RedisConfig
from emostream.config.pipeline import ClassifierConfig, DetectorConfig, IngestConfig, TrackerConfig
from emostream.config.serving import HttpConfig, WebConfig
from emostream.config.sources import SourceConfig


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

    @model_validator(mode="after")
    def _shards_exist(self) -> Config:
        wrong = sorted({i for i in self.classifier.shards if i >= self.redis.faces_shards})
        if wrong:
            raise ValueError(
                f"classifier.shards {wrong} do not exist: redis.faces_shards is {self.redis.faces_shards} (shards 0 to {self.redis.faces_shards - 1})"
            )
        return self

    @model_validator(mode="after")
    def _reid_outlives_tracks(self) -> Config:
        """A re-identified face continues its old track id, which the aggregator must not have ended meanwhile."""
        window, tracks = self.tracker.reid_window_s, self.tracks
        if window > min(tracks.end_after_s, tracks.idle_end_s):
            raise ValueError(
                f"tracker.reid_window_s ({window:g} s) is longer than tracks.end_after_s ({tracks.end_after_s:g} s) or "
                f"tracks.idle_end_s ({tracks.idle_end_s:g} s): the aggregator would end a track before its person could be "
                f"re-identified, and ignore that track's later faces; set both to at least {window:g}"
            )
        return self

    def source(self, source_id: str) -> SourceConfig:
        for src in self.sources:
            if src.id == source_id:
                return src
        raise KeyError(source_id)
