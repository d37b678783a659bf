"""Secrets never leave the process: which names are secret, and a Redactor that turns every
known secret value, URL userinfo and credential-like query parameter into ``***``.

A leaf: it imports nothing of directord's, so errors, logs and the store can all use it."""

from __future__ import annotations

# Besides what a job kind declares secret, any setting named like one of these is never shown.
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential")


def is_secret_name(name: object, declared: frozenset[str] = frozenset()) -> bool:
    """Whether a setting (or env variable, or query parameter) of this name holds a secret."""
    text = str(name).lower()
    return name in declared or any(word in text for word in SECRET_WORDS)
