"""Run leases on a shared (PostgreSQL) store, as a node's presence keeps them every lease/3:
this process's leases renewed (one it could not renew in time was expired by another node: said
loudly, once), and any node's leases that ran out expired (those runs become ``interrupted``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loguru import logger

from directord.store.base import Interrupted

if TYPE_CHECKING:
    from directord.store.postgres import PostgresStore


async def renew(store: PostgresStore, node: str | None, lost: set[int]) -> None:
    """Renew the leases of this process's runs; ``lost``: the runs already said to be lost."""
    ids = sorted(store.mine)
    renewed = {
        r["id"]
        for r in await store.connector.fetch_all("renew_leases", {"ids": ids, "lease": store.lease})
    }
    for run_id in set(ids) - renewed - lost:
        lost.add(run_id)
        logger.bind(action="lease_lost", run=run_id).error(
            "LEASE LOST: run {} of this node ({}) was recorded as interrupted by another "
            "node (this node could not renew its lease in time); its result will not be "
            "recorded",
            run_id,
            node,
        )


async def expire(store: PostgresStore) -> list[Interrupted]:
    """Record every run whose lease ran out (on any node) as interrupted; returns them."""
    expired = []
    for r in await store.connector.fetch_all("interrupt_expired"):
        logger.bind(action="lease_expired", job=r["job"], run=r["id"]).warning(
            "run {} of {} on node {}: its lease expired; recorded as interrupted",
            r["id"],
            r["job"],
            r["node"],
        )
        expired.append(
            Interrupted(r["id"], r["job"], r["started"], r["node"], r["process_group"], r["owner"])
        )
    return expired
