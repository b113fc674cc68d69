"""The ``redis`` section: where the streams live and how to reach them securely."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from emostream.config.base import Section
from emostream.config.secrets import read_secret_file

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
TLS_FIELDS = ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_insecure")


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
    cluster: bool = Field(
        False,
        description="Redis Cluster (or a managed service in cluster mode): redis.url is one seed node; every role uses a cluster client.",
    )
    faces_shards: int = Field(
        1,
        ge=1,
        le=1024,
        description="Shards of the faces work queue, spread over the cluster's slots (suggested in cluster mode: 2 × masters). 1: one stream.",
    )
    prefix: str = Field("emostream", min_length=1, max_length=64, description="Prefix of every key and stream.")
    faces_maxlen: int = Field(20_000, ge=100, description="Approximate cap of the internal faces stream (MAXLEN ~).")
    events_maxlen: int = Field(100_000, ge=100, description="Approximate cap of each per-source events stream.")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Socket connect timeout.")
    startup_wait_s: float = Field(
        60.0, ge=0, le=3600, description="How long a worker waits at start-up for a Redis that cannot be reached yet (0: fail at once)."
    )

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
        if self.cluster and not (self.url or "").startswith(("redis://", "rediss://")):
            # `emostream run` without a URL starts one embedded server, never a cluster.
            raise ValueError("redis.cluster needs a redis:// or rediss:// URL of a cluster node in redis.url")
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("redis.tls_key_file needs redis.tls_cert_file")
        return self

    def resolved_password(self) -> str | None:
        """The password from ``password_file`` (read now, see :mod:`emostream.config.secrets`) or ``password``."""
        if self.password_file:
            return read_secret_file(self.password_file, "redis.password_file")
        return self.password
