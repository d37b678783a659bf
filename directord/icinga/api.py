"""The Icinga 2 REST API (config packages and stages), on aiohttp.

Deploying is: make sure the package exists, upload a stage with the rendered files, wait for
Icinga 2 to validate it (poll the stage's ``status`` and ``startup.log``: both answer 404 until
validation has finished), and read the result. Stage uploads answer 423 while a previous
validation or reload is still pending: they are retried until the timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from directord import files
from directord.icinga import auth
from directord.icinga.errors import SourceError

if TYPE_CHECKING:
    import aiohttp


class ApiError(Exception):
    """Icinga 2's API could not be reached or answered with an error."""


class ApiConfig(BaseModel):
    """``icinga.api`` in config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "https://127.0.0.1:5665"
    user: str
    password_file: str
    ca_file: str | None = None
    # Only when set explicitly: TLS without checking the certificate.
    insecure: bool = False
    timeout: float = Field(30, gt=0)
    validation_timeout: float = Field(120, gt=0)

    @model_validator(mode="after")
    def _tls(self) -> ApiConfig:
        if not self.url.startswith("https://"):
            raise ValueError(f"url {self.url!r}: the Icinga 2 API is https only")
        return self


@dataclass(frozen=True)
class StageResult:
    stage: str
    ok: bool
    log: str

    def errors(self) -> list[str]:
        """The error lines of startup.log, with the location line that follows each."""
        lines = self.log.splitlines()
        out = []
        for i, line in enumerate(lines):
            if "critical/" in line or "Error:" in line:
                out.append(line.strip())
                if i + 1 < len(lines) and "Location:" in lines[i + 1]:
                    out.append(lines[i + 1].strip())
        return out


def _ssl(config: ApiConfig, base_dir: Path) -> ssl.SSLContext | bool:
    if config.insecure:
        return False
    if config.ca_file is None:
        return True  # the system's trust store
    path = Path(config.ca_file)
    path = path if path.is_absolute() else base_dir / path
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ApiError(f"icinga.api.ca_file {path}: {exc}") from None


class Icinga2Api:
    def __init__(self, config: ApiConfig, session: aiohttp.ClientSession, base_dir: Path) -> None:
        self.config = config
        self.session = session
        self.base = config.url.rstrip("/")
        path = Path(config.password_file)
        path = path if path.is_absolute() else base_dir / path
        try:
            password = files.read_secret(path, "password")
        except files.FileProblem as exc:
            raise SourceError(str(exc)) from None
        self._authorization = auth.basic(config.user, password)
        self._ssl = _ssl(config, base_dir)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        accept_json: bool = True,
        ok: tuple[int, ...] = (200,),
    ) -> tuple[int, Any]:
        # Lazy: the config models live here too, and loading a config needs no HTTP client.
        import aiohttp  # noqa: PLC0415

        headers = {"Authorization": self._authorization}
        if accept_json:
            headers["Accept"] = "application/json"
        try:
            async with self.session.request(
                method,
                self.base + path,
                json=json_body,
                headers=headers,
                ssl=self._ssl,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            ) as response:
                body: Any = await (
                    response.json(content_type=None) if accept_json else response.text()
                )
                if response.status not in ok:
                    why = _reason(body, response.reason or "")
                    raise ApiError(f"{method} {path}: HTTP {response.status}: {why}")
                return response.status, body
        except aiohttp.ClientError as exc:
            raise ApiError(f"{method} {self.base}{path}: {type(exc).__name__}: {exc}") from None
        except TimeoutError:
            raise ApiError(
                f"{method} {self.base}{path}: no answer within {self.config.timeout:g}s"
            ) from None

    async def packages(self) -> list[dict[str, Any]]:
        _, body = await self.request("GET", "/v1/config/packages")
        return list(body.get("results", []))

    async def ensure_package(self, package: str) -> None:
        if not any(p.get("name") == package for p in await self.packages()):
            await self.request("POST", f"/v1/config/packages/{quote(package)}")

    async def active_stage(self, package: str) -> str | None:
        for p in await self.packages():
            if p.get("name") == package:
                return p.get("active-stage") or None
        return None

    async def stages(self, package: str) -> list[str]:
        for p in await self.packages():
            if p.get("name") == package:
                return list(p.get("stages", []))
        return []

    async def upload_stage(self, package: str, files: dict[str, str]) -> str:
        """Upload a stage; waits out 423 (a validation or reload still pending)."""
        deadline = time.monotonic() + self.config.validation_timeout
        while True:
            status, body = await self.request(
                "POST",
                f"/v1/config/stages/{quote(package)}",
                json_body={"files": files},
                ok=(200, 423),
            )
            if status == 200:
                return str(body["results"][0]["stage"])
            if time.monotonic() > deadline:
                raise ApiError(f"Icinga 2 kept refusing the stage (423: {_reason(body, '')})")
            await asyncio.sleep(0.5)

    async def stage_result(self, package: str, stage: str) -> StageResult:
        """Wait for Icinga 2's validation of ``stage``; its status and startup.log."""
        base = f"/v1/config/files/{quote(package)}/{quote(stage)}"
        deadline = time.monotonic() + self.config.validation_timeout
        while True:
            code, text = await self.request(
                "GET", f"{base}/status", accept_json=False, ok=(200, 404)
            )
            if code == 200:
                _, log = await self.request("GET", f"{base}/startup.log", accept_json=False)
                return StageResult(stage, text.strip() == "0", str(log))
            if time.monotonic() > deadline:
                raise ApiError(
                    f"stage {stage}: no validation result within "
                    f"{self.config.validation_timeout:g}s"
                )
            await asyncio.sleep(0.25)

    async def delete_stage(self, package: str, stage: str) -> None:
        await self.request("DELETE", f"/v1/config/stages/{quote(package)}/{quote(stage)}")

    async def objects(self, plural: str, attrs: list[str]) -> list[dict[str, Any]]:
        query = "&".join(f"attrs={quote(a)}" for a in attrs)
        _, body = await self.request("GET", f"/v1/objects/{plural}?{query}")
        return list(body.get("results", []))


def _reason(body: Any, default: str) -> str:
    if isinstance(body, dict):
        results = body.get("results")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            return str(results[0].get("status") or results[0].get("errors") or default)
        return str(body.get("status") or default)
    return str(body)[:300] or default
