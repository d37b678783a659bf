"""Render the desired objects and deploy them to Icinga 2, only when that changes something.

Without ``icinga.api`` (or with ``deploy: false``) the files go into ``icinga.render_dir``,
each written atomically (a temp file renamed over the old one); files of an earlier render that
are no longer part of the config are removed, nothing else in the folder is touched.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from directord import store
from directord.icinga import render
from directord.icinga.api import ApiError, Icinga2Api

if TYPE_CHECKING:
    import aiohttp  # the session is the caller's; no client is made here

MANIFEST = ".directord-manifest.json"
ToThread = Callable[..., Awaitable[Any]]


class DeployFailed(Exception):
    """Icinga 2 rejected the config or could not be reached; the message names the first error."""


@dataclass(frozen=True)
class DeployOutcome:
    action: str  # rendered | deployed | unchanged | grace_period
    checksum: str
    objects: int
    detail: str
    stage: str | None = None
    changed: bool = False


def _render(
    rows: list[tuple[str, str, str, str | None]], templates: dict[str, render.Template], zone: str
) -> render.RenderedConfig:
    objects = [(kind, name, json.loads(props)) for kind, name, props, _ in rows]
    return render.render(objects, templates, zone)


def write_render_dir(rendered: render.RenderedConfig, folder: Path) -> bool:
    """Blocking: write the files atomically; returns whether anything changed."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("checksum") == rendered.checksum and all(
        (folder / p).exists() for p in rendered.files
    ):
        return False
    for path, content in rendered.files.items():
        _atomic_write(folder / path, content)
    for old in manifest.get("files", []):
        if old not in rendered.files:
            (folder / old).unlink(missing_ok=True)
    _atomic_write(
        manifest_path,
        json.dumps({"checksum": rendered.checksum, "files": sorted(rendered.files)}, indent=2),
    )
    return True


def _atomic_write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def render_and_deploy(
    config: Any,
    db: store.Store,
    *,
    http: Callable[[], aiohttp.ClientSession],
    to_thread: ToThread,
    now: float,
    run_id: int | None,
    deploy: bool = True,
    deploy_when_changed: bool = True,
    grace_period: float = 0.0,
    force: bool = False,
) -> DeployOutcome:
    """``config`` is the daemon's Settings (icinga, templates, base_dir)."""
    icinga = config.icinga
    rows = await db.objects()
    rendered: render.RenderedConfig = await to_thread(_render, rows, config.templates, icinga.zone)
    await db.save_rendered_config(rendered.checksum, rendered.as_json(), len(rows), now)
    short = rendered.checksum[:12]
    if icinga.api is None or not deploy:
        folder = config.resolve_path(icinga.render_dir)
        changed = await to_thread(write_render_dir, rendered, folder)
        detail = (
            f"rendered {len(rows)} objects into {folder} (config {short})"
            if changed
            else f"unchanged: {folder} already holds config {short}"
        )
        return DeployOutcome("rendered", rendered.checksum, len(rows), detail, changed=changed)
    try:
        client = Icinga2Api(icinga.api, http(), config.base_dir)
        package = icinga.package
        if not force:
            last_ok = await db.last_deployment(package, ok=True)
            if (
                deploy_when_changed
                and last_ok is not None
                and last_ok.checksum == rendered.checksum
            ):
                active = await client.active_stage(package)
                if active == last_ok.stage:
                    return DeployOutcome(
                        "unchanged",
                        rendered.checksum,
                        len(rows),
                        f"not deployed: config {short} unchanged since deployment "
                        f"{last_ok.id} (stage {last_ok.stage} is active)",
                        stage=active,
                    )
            last = await db.last_deployment(package)
            if grace_period and last is not None and now - last.started < grace_period:
                return DeployOutcome(
                    "grace_period",
                    rendered.checksum,
                    len(rows),
                    f"not deployed: within the grace period of {grace_period:g}s after "
                    f"deployment {last.id} ({now - last.started:.0f}s ago)",
                )
    except ApiError as exc:
        raise DeployFailed(str(exc)) from None
    deployment = await db.start_deployment(rendered.checksum, package, now, run_id)
    stage: str | None = None
    try:
        await client.ensure_package(package)
        stage = await client.upload_stage(package, rendered.files)
        result = await client.stage_result(package, stage)
    except ApiError as exc:
        await db.finish_deployment(
            deployment, rendered.checksum, stage, time.time(), False, str(exc)
        )
        raise DeployFailed(str(exc)) from None
    errors = result.errors()
    await db.finish_deployment(
        deployment,
        rendered.checksum,
        stage,
        time.time(),
        result.ok,
        "\n".join(errors) if errors else (None if result.ok else "validation failed"),
    )
    if not result.ok:
        first = next(
            (e for e in errors if "Error:" in e or "critical/" in e),
            "validation failed (see the stage's startup.log)",
        )
        raise DeployFailed(
            f"Icinga 2 rejected config {short} (stage {stage}): {first.split('Error: ', 1)[-1]}"
        )
    return DeployOutcome(
        "deployed",
        rendered.checksum,
        len(rows),
        f"deployed config {short} ({len(rows)} objects) as stage {stage}",
        stage=stage,
        changed=True,
    )


async def delete_old_stages(
    config: Any, db: store.Store, http: Callable[[], aiohttp.ClientSession], keep: int
) -> int:
    """Delete inactive stages of our package, except those of the last ``keep`` deployments."""
    if config.icinga.api is None:
        return 0
    client = Icinga2Api(config.icinga.api, http(), config.base_dir)
    package = config.icinga.package
    active = await client.active_stage(package)
    recent = {d.stage for d in await db.deployments(limit=keep) if d.stage}
    removed = 0
    for stage in await client.stages(package):
        if stage != active and stage not in recent:
            await client.delete_stage(package, stage)
            removed += 1
    return removed
