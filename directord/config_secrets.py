"""Which values of a loaded config are secret, and the Redactor that hides them: every value of
a secret setting (declared by its kind, or named like a password or token, at any depth, env
variables included), the contents of the password and token files the config names, and the
passwords and credential-like query parameters of the URLs in it."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from directord import files, redact

if TYPE_CHECKING:
    from directord.config import Settings


def _walk(value: Any, path: str, secret: bool) -> Iterator[tuple[str, str, bool]]:
    """(path, string, whether it is secret) for every string in a JSON-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}", secret or redact.is_secret_name(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", secret)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield path, str(value), secret


def _file_settings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, value) of every setting named ``*_file`` with a plain value, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                yield from _file_settings(item, f"{path}.{key}")
            # Only names are looked at for plain values: a config of 10,000 jobs has 100,000
            # of them, and walking each through _walk cost seconds.
            elif str(key).endswith("_file") and not isinstance(item, bool | None):
                yield f"{path}.{key}", str(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict | list):
                yield from _file_settings(item, f"{path}[{i}]")


def secret_file_paths(settings: Settings) -> list[tuple[str, Path]]:
    """(config path, file) of every password or token file the config names."""
    out: list[tuple[str, Path]] = []
    dumped = settings.model_dump(mode="json")
    # One C pass says whether any key ends in _file: most configs name none, and walking the
    # values of 10,000 jobs in Python cost 0.15 s.
    if '_file"' not in json.dumps(dumped):
        return out
    for path, text in _file_settings(dumped, ""):
        key = path.rsplit(".", 1)[-1]
        if redact.is_secret_name(key) and text:
            out.append((path.lstrip("."), settings.resolve_path(text)))
    return out


def readable_secret_files(settings: Settings) -> list[tuple[str, Path]]:
    """The secret files that every user on the machine can read."""
    return [(where, p) for where, p in secret_file_paths(settings) if files.others_can_read(p)]


def _url_secrets(text: str) -> Iterator[str]:
    if "://" not in text:
        return
    try:
        url = urllib.parse.urlsplit(text.strip())
        password = url.password
        query = urllib.parse.parse_qsl(url.query)
    except ValueError:
        return
    if password:
        yield password
        yield urllib.parse.quote(password, safe="")
    for key, value in query:
        if redact.is_secret_name(key) or key.lower() in {"key", "auth", "sig", "signature"}:
            yield value


def secret_values(settings: Settings) -> set[str]:
    """Every secret value the config holds or points at."""
    values: set[str] = set()
    declared = _declared(settings)
    dump = settings.model_dump(mode="json")
    for i, job in enumerate(dump.get("jobs", [])):
        for key in declared.get(i, frozenset()):
            for _, text, _ in _walk(job.get("settings", {}).get(key), "", True):
                values.add(text)
    for path, text, secret in _walk(dump, "", False):
        key = path.rsplit(".", 1)[-1]
        if secret and key.endswith("_file"):
            # A file that cannot be read is reported by the job or daemon that needs it.
            with contextlib.suppress(files.FileProblem):
                values.add(files.read_secret(settings.resolve_path(text), key[: -len("_file")]))
        elif secret:
            values.add(text)
        else:
            values.update(_url_secrets(text))
    return values


def _declared(settings: Settings) -> dict[int, frozenset[str]]:
    """Job index -> the settings its kind declares secret (when the kinds are known)."""
    cached = settings._validated_jobs
    if cached is None:
        return {}
    kinds = cached[0]
    out = {}
    for i, job in enumerate(settings.jobs):
        kind = kinds.get(job.kind)
        if kind is not None and kind.secret_settings:
            out[i] = kind.secret_settings
    return out


def redactor(settings: Settings) -> redact.Redactor:
    """The Redactor of this config (built once per loaded config)."""
    cached = settings._redactor
    if cached is None or cached[0] != id(settings):
        cached = settings._redactor = (id(settings), redact.Redactor(secret_values(settings)))
    return cached[1]
