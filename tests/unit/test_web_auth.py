"""Password hashes, sessions with sliding expiry, CSRF tokens and login throttling."""

from __future__ import annotations

from directord.web import auth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hash_verifies_only_its_password() -> None:
    h = auth.hash_password("s3cret")
    assert auth.is_password_hash(h)
    assert "s3cret" not in h
    assert auth.verify_password(h, "s3cret")
    assert not auth.verify_password(h, "s3cret ")
    assert not auth.verify_password(None, "s3cret")
    assert not auth.verify_password("not a hash", "s3cret")


def test_sessions_expire_after_ttl_without_use() -> None:
    clock = Clock()
    sessions = auth.Sessions(ttl=60, clock=clock)
    s = sessions.create("ann", auth.Role.operator)
    clock.now = 59
    assert sessions.get(s.id) is s  # use slides the expiry
    clock.now = 118
    assert sessions.get(s.id) is s
    clock.now = 179
    assert sessions.get(s.id) is None
    assert sessions.get(s.id) is None


def test_csrf_token_must_match_its_session() -> None:
    sessions = auth.Sessions(ttl=60)
    a = sessions.create("ann", auth.Role.viewer)
    b = sessions.create("bob", auth.Role.operator)
    assert auth.csrf_matches(a, a.csrf)
    assert not auth.csrf_matches(a, b.csrf)
    assert not auth.csrf_matches(a, None)
    assert not auth.csrf_matches(a, "")
    assert not a.may_write
    assert b.may_write


def test_throttle_per_user_and_address() -> None:
    clock = Clock()
    throttle = auth.LoginThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("ann", "127.0.0.1") == 0
        throttle.failed("ann", "127.0.0.1")
    assert throttle.retry_after("ann", "127.0.0.1") == 60
    assert throttle.retry_after("ann", "127.0.0.2") == 0
    assert throttle.retry_after("bob", "127.0.0.1") == 0
    clock.now = 61
    assert throttle.retry_after("ann", "127.0.0.1") == 0
    throttle.failed("ann", "127.0.0.1")
    throttle.succeeded("ann", "127.0.0.1")
    assert throttle.retry_after("ann", "127.0.0.1") == 0


def test_drop_user_logs_out_everywhere() -> None:
    sessions = auth.Sessions(ttl=60)
    a1 = sessions.create("ann", auth.Role.operator)
    a2 = sessions.create("ann", auth.Role.operator)
    b = sessions.create("bob", auth.Role.viewer)
    sessions.drop_user("ann")
    assert sessions.get(a1.id) is None
    assert sessions.get(a2.id) is None
    assert sessions.get(b.id) is b
