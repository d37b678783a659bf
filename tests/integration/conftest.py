"""PostgreSQL for the integration tests: one server per session, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests import services

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[services.PostgresServer]:
    with services.postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: services.PostgresServer) -> Iterator[str]:
    """The URL of an empty database of its own (the password comes from PGPASSWORD)."""
    pg = pg_server.pg
    name = f"t{next(_numbers)}"
    pg.psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{pg.user}@{pg.host}:{pg.port}/{name}"
    finally:
        if pg_server.proc is not None:
            pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_password(pg_server: services.PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """libpq's PGPASSWORD, as a daemon would find it."""
    monkeypatch.setenv("PGPASSWORD", pg_server.pg.password)
    return pg_server.pg.password
