"""The one rule for secret files (Redis password, camera password).

A secret file holds the secret on its first line; surrounding white space and
any further lines are ignored, so a file written by ``echo`` or a Kubernetes
secret mount both work. It is read each time the secret is used, not at load,
so a rotated secret applies at the next connect without a restart. A file that
is configured but missing, unreadable or empty is a :class:`ConfigError` naming
the key and the file, never "no password": connecting without one would fail
later with a less helpful authentication error.
"""

from __future__ import annotations

from pathlib import Path

from emostream.config.base import ConfigError


def read_secret_file(path: Path, key: str) -> str:
    """The secret on the first line of ``path``; ``key`` (e.g. ``redis.password_file``) names it in errors."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        # Only the type of the error: its text could quote the file's contents.
        raise ConfigError(f"{key} {path}: cannot read it ({type(exc).__name__})") from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ConfigError(f"{key} {path}: the first line is empty")
    return secret
