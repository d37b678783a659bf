"""HTTP authorization headers (aiohttp's BasicAuth is deprecated in current releases)."""

from __future__ import annotations

import base64


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
