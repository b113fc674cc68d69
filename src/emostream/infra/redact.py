"""Keep credentials out of logs, metrics, events and error messages."""

from __future__ import annotations

import logging
import re

# scheme://user:password@host  or  scheme://password@host (redis URLs allow both). The user
# info runs to the last "@" before the path, so a password with a raw "@" is masked whole.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s'\"]+)@")


def _mask(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return f"{match.group('scheme')}{user + ':' if user else ''}***@"


def redact(text: str) -> str:
    """Replace the password (and nothing else) of every URL in ``text`` with ``***``."""
    return _USERINFO.sub(_mask, text)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """:func:`redact`, and every known secret (e.g. a password given on its own) replaced by ``***``."""
    text = redact(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Log filter that redacts every record's formatted message, whatever the logger."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Exceptions often carry the URL they failed on; format them now, redacted.
            formatter = logging.Formatter()
            clean += "\n" + self.scrub(formatter.formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, ()
        return True
