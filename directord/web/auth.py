"""People who log in to the web pages: password hashes, sessions, CSRF tokens, login throttling.

Users live in config.yaml (``web.users``) with an argon2id hash made by ``directord user hash``;
the daemon never sees a password except in the login form. Sessions are kept in memory: a
restart logs everyone out, which is the safe side for a daemon that restarts itself on memory
growth. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

SESSION_COOKIE = "directord_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@cache
def _hasher() -> tuple[PasswordHasher, str]:
    """One hasher, argon2id with the library's current defaults (RFC 9106 low-memory profile),
    and a hash verified when the user is unknown, so a wrong name costs as long as a wrong
    password. Made at first use: a daemon without web users never loads argon2 (issue 14.2)."""
    from argon2 import PasswordHasher  # noqa: PLC0415

    hasher = PasswordHasher()
    return hasher, hasher.hash(secrets.token_hex(16))


class Role(enum.StrEnum):
    viewer = "viewer"
    operator = "operator"


def hash_password(password: str) -> str:
    """An argon2id hash for web.users[].password_hash."""
    return _hasher()[0].hash(password)


def is_password_hash(text: str) -> bool:
    """Whether ``text`` looks like a hash we can verify (so config check can say it is not)."""
    return text.startswith("$argon2")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown user (None) still costs one verification."""
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    hasher, dummy = _hasher()
    try:
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class Session:
    id: str
    user: str
    role: Role
    csrf: str
    expires: float

    @property
    def may_write(self) -> bool:
        return self.role is Role.operator


def csrf_matches(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())


@dataclass
class Sessions:
    """Sessions by id, each valid for ``ttl`` seconds after its last use (sliding expiry)."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _by_id: dict[str, Session] = field(default_factory=dict)

    def create(self, user: str, role: Role) -> Session:
        self._purge()
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires=self.clock() + self.ttl,
        )
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        now = self.clock()
        if session is None or session.expires <= now:
            self._by_id.pop(session_id, None)
            return None
        session.expires = now + self.ttl
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def drop_user(self, user: str) -> None:
        """Log a user out everywhere (their role or password changed on reload)."""
        for sid in [s.id for s in self._by_id.values() if s.user == user]:
            del self._by_id[sid]

    def _purge(self) -> None:
        now = self.clock()
        for sid in [s.id for s in self._by_id.values() if s.expires <= now]:
            del self._by_id[sid]


@dataclass
class LoginThrottle:
    """Failed logins per (user, address): after ``limit`` failures within ``window`` seconds,
    that pair must wait until the oldest failure leaves the window. Successes clear it."""

    limit: int = 5
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may now."""
        failures = self._recent(user, address)
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, failures[0] + self.window - self.clock())

    def failed(self, user: str, address: str) -> None:
        self._recent(user, address).append(self.clock())
        if len(self._failures) > 10_000:  # bound memory under a spray of made-up names
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]

    def succeeded(self, user: str, address: str) -> None:
        self._failures.pop((user, address), None)

    def _recent(self, user: str, address: str) -> deque[float]:
        failures = self._failures.setdefault((user, address), deque(maxlen=self.limit))
        cutoff = self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures
