"""The job form: fields generated from a kind's settings model, and the posted form back into a
job definition (the same shape as a job in config.yaml, validated by the same code).

Pure. Every field's ``key`` is its config key (``interval``, ``settings.command``), so an error
reported for a config path lands next to the field that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from directord import units

SECRET_KEEP = ""  # an empty password field on edit keeps the stored secret


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    widget: str  # text | password | checkbox | select | lines
    value: Any = ""
    required: bool = False
    options: tuple[str, ...] = ()
    help: str = ""
    readonly: bool = False


def _schema_type(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The JSON-schema type of a property, looking through $ref and Optional (anyOf null)."""
    if "$ref" in prop:
        prop = defs.get(str(prop["$ref"]).rsplit("/", 1)[-1], {})
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        if len(options) == 1:
            return _schema_type(
                {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}, defs
            )
        return "string", dict(prop)
    if "enum" in prop:
        return "enum", dict(prop)
    return str(prop.get("type", "string")), dict(prop)


def _text(value: Any, kind: str) -> Any:
    if value is None:
        return "" if kind != "boolean" else False
    if kind == "array":
        return "\n".join(str(v) for v in value)
    if kind == "object":
        return "\n".join(f"{k}={v}" for k, v in dict(value).items())
    return value


def settings_fields(
    model: type[BaseModel], values: Mapping[str, Any], secret: frozenset[str], editing: bool
) -> list[Field]:
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        kind, prop = _schema_type(prop, defs)
        key = f"settings.{name}"
        label = str(prop.get("title") or name)
        help_text = str(prop.get("description") or "")
        value = values.get(name, prop.get("default"))
        if name in secret:
            out.append(
                Field(key, label, "password", "", name in required and not editing, help=help_text)
            )
        elif kind == "boolean":
            out.append(Field(key, label, "checkbox", bool(value), help=help_text))
        elif kind == "enum":
            options = tuple(str(o) for o in prop["enum"])
            if name not in required:
                options = ("", *options)
            out.append(
                Field(
                    key,
                    label,
                    "select",
                    "" if value is None else str(value),
                    name in required,
                    options,
                    help_text,
                )
            )
        elif kind in ("array", "object"):
            hint = "one item a line" if kind == "array" else "one key=value a line"
            out.append(
                Field(
                    key,
                    label,
                    "lines",
                    _text(value, kind),
                    name in required,
                    help=help_text or hint,
                )
            )
        else:
            out.append(
                Field(key, label, "text", _text(value, kind), name in required, help=help_text)
            )
    return out


def job_fields(
    definition: Mapping[str, Any],
    kinds: Iterable[str],
    periods: Iterable[str],
    model: type[BaseModel] | None,
    secret: frozenset[str],
    editing: bool,
) -> list[Field]:
    """The whole form: the job's own keys, then the chosen kind's settings."""

    def duration(key: str) -> str:
        value = definition.get(key)
        if value in (None, ""):
            return ""
        return value if isinstance(value, str) else units.format_duration(float(value))

    fields = [
        Field("name", "Name", "text", definition.get("name", ""), True, readonly=editing),
        Field("kind", "Kind", "select", definition.get("kind", ""), True, tuple(kinds)),
        Field(
            "interval", "Interval", "text", duration("interval"), True, help="e.g. 30s, 5m, 1h, 1d"
        ),
        Field(
            "timeperiod",
            "Time period",
            "select",
            definition.get("timeperiod") or "",
            False,
            ("", *periods),
        ),
        Field("timeout", "Timeout", "text", duration("timeout"), help="empty: none"),
        Field("disabled", "Disabled", "checkbox", bool(definition.get("disabled", False))),
    ]
    if model is not None:
        fields += settings_fields(model, definition.get("settings", {}) or {}, secret, editing)
    return fields


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def definition_from_form(
    form: Mapping[str, str],
    model: type[BaseModel] | None,
    secret: frozenset[str],
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The posted form as a job definition. Values stay strings where the config would accept
    a string (durations, numbers): the config's own validation converts and judges them."""
    out: dict[str, Any] = {}
    for key in ("name", "kind", "interval", "timeperiod", "timeout"):
        value = form.get(key, "").strip()
        if value:
            out[key] = value
    out["disabled"] = form.get("disabled") == "true"
    if model is None:
        return out
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    settings: dict[str, Any] = {}
    old = dict((previous or {}).get("settings", {}) or {})
    for name, prop in schema.get("properties", {}).items():
        kind, _ = _schema_type(prop, defs)
        key = f"settings.{name}"
        raw = form.get(key)
        if name in secret:
            if raw:
                settings[name] = raw
            elif name in old:
                settings[name] = old[name]
            continue
        if kind == "boolean":
            settings[name] = raw == "true"
        elif raw is None or raw.strip() == "":
            continue  # the model's default
        elif kind == "array":
            settings[name] = _lines(raw)
        elif kind == "object":
            pairs = [line.partition("=") for line in _lines(raw)]
            settings[name] = {k.strip(): v.strip() for k, _, v in pairs}
        else:
            settings[name] = raw.strip()
    out["settings"] = settings
    return out


def form_values(form: Mapping[str, str], fields: list[Field]) -> list[Field]:
    """The fields with what was typed, so nothing typed is lost when the form comes back with
    errors (passwords excepted: they are never sent back to the browser)."""
    out = []
    for field in fields:
        if field.widget == "password":
            out.append(field)
        elif field.widget == "checkbox":
            out.append(Field(**{**field.__dict__, "value": form.get(field.key) == "true"}))
        else:
            out.append(Field(**{**field.__dict__, "value": form.get(field.key, "")}))
    return out
