"""Secrets never leave the process: which names are secret, and a Redactor that turns every
known secret value, URL userinfo and credential-like query parameter into ``***``.

A leaf: it imports nothing of directord's, so errors, logs and the store can all use it. The
Redactor of the loaded config is built by ``config_secrets`` and installed here for the log."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

REDACTED = "***"

# Besides what a job kind declares secret, any setting named like one of these is never shown.
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential")

# Shorter values are not searched for in text: they would match everywhere and say little.
MIN_SECRET_LENGTH = 4

# scheme://user:password@host -> scheme://user:***@host
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@/\s]+)@")
# ?api_token=...&signature=... -> ?api_token=***&signature=***
_QUERY = re.compile(
    r"(?P<head>[?&;][^=&#\s]*(?:token|key|secret|passw|pwd|auth|signature|sig|credential)"
    r"[^=&#\s]*=)(?P<secret>[^&#\s]+)",
    re.IGNORECASE,
)


def is_secret_name(name: object, declared: frozenset[str] = frozenset()) -> bool:
    """Whether a setting (or env variable, or query parameter) of this name holds a secret."""
    text = str(name).lower()
    return name in declared or any(word in text for word in SECRET_WORDS)


def secret_fields(value: Any, declared: frozenset[str] = frozenset()) -> Any:
    """Settings as shown to people or stored: the values of secret fields (declared by the kind
    at the top level, or named like a secret at any depth) replaced by ``***``."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(key, declared) else secret_fields(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [secret_fields(item) for item in value]
    return value


class Redactor:
    """Replaces known secret values, URL passwords and credential-like query parameters in text
    (and in the strings of JSON-like values) by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=lambda s: (-len(s), s)
        )
        self.count = len(values)
        # Longest first, so a secret that contains another is replaced whole.
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def text(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(REDACTED, text)
        # Each pattern needs its literal "@" or "="; a text without one (most run summaries and
        # log lines) skips the regex: two regex passes per string were most of redaction's cost
        # per run on the dispatch bench.
        if "@" in text:
            text = _USERINFO.sub(rf"\g<head>:{REDACTED}@", text)
        if "=" in text:
            text = _QUERY.sub(rf"\g<head>{REDACTED}", text)
        return text

    def __call__(self, text: str) -> str:
        return self.text(text)

    def value(self, value: Any) -> Any:
        """A JSON-like value (run details, counters) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


_current = Redactor()


def install(redactor: Redactor) -> None:
    """The redactor of the config now loaded: the log uses it for every record."""
    global _current
    _current = redactor


def current() -> Redactor:
    return _current


def redact_url(url: str) -> str:
    """A URL as shown to people: a password in its userinfo becomes ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
