"""Configuration: one YAML file plus ``EMOSTREAM_*`` environment variables.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is
an error that names it. The package is split by job: :mod:`.base` (the error
and the strict base model), :mod:`.secrets` (the one rule for secret files),
one module per group of sections, :mod:`.root` (the whole configuration) and
:mod:`.loader` (file + environment -> validated :class:`Config`). Import from
here; the module layout is not part of the interface.
"""

from emostream.config.aggregation import AggregatorConfig, TracksConfig
from emostream.config.base import ConfigError, Section
from emostream.config.connection import REDIS_SCHEMES, TLS_FIELDS, RedisConfig
from emostream.config.ids import SOURCE_ID
from emostream.config.loader import ENV_PREFIX, ENV_RESERVED, dump_config, env_overrides, load_config, parse_config
from emostream.config.pipeline import ClassifierConfig, DetectorConfig, IngestConfig, TrackerConfig
from emostream.config.root import Config
from emostream.config.secrets import read_secret_file
from emostream.config.serving import HttpConfig, WebConfig
from emostream.config.sources import SourceConfig

__all__ = [
    "ENV_PREFIX",
    "ENV_RESERVED",
    "REDIS_SCHEMES",
    "SOURCE_ID",
    "TLS_FIELDS",
    "AggregatorConfig",
    "ClassifierConfig",
    "Config",
    "ConfigError",
    "DetectorConfig",
    "HttpConfig",
    "IngestConfig",
    "RedisConfig",
    "Section",
    "SourceConfig",
    "TrackerConfig",
    "TracksConfig",
    "WebConfig",
    "dump_config",
    "env_overrides",
    "load_config",
    "parse_config",
    "read_secret_file",
]
