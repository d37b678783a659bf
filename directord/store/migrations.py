"""The migration runner: numbered scripts of a dialect, each applied once, in order."""

from __future__ import annotations

from directord.store import queries
from directord.store.connector import Connector


async def current(connector: Connector) -> int:
    """The schema version recorded in the database (0: none yet)."""
    row = await connector.fetch_one("schema_version")
    return 0 if row is None or row["version"] is None else int(row["version"])


async def migrate(connector: Connector) -> list[int]:
    """Apply every pending script of ``connector.dialect`` in one transaction (all or none);
    returns the versions applied. Two processes migrating at once: the database's write lock
    (or an advisory lock the connector takes in its transaction) lets one win; the other then
    finds nothing pending."""
    applied = []
    async with connector.transaction() as tx:
        await tx.execute("create_schema_version")
        row = await tx.fetch_one("schema_version")
        version = 0 if row is None or row["version"] is None else int(row["version"])
        for number, script in queries.migrations(connector.dialect):
            if number <= version:
                continue
            await tx.run_script(script)
            await tx.execute("record_schema_version", {"version": number})
            applied.append(number)
    return applied
