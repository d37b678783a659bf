"""Sync rules: how imported rows become Icinga 2 objects.

hosts:
  object_type: Host
  sources: [cmdb, extra]        # earlier = higher priority, per property
  object_name: "${hostname}"    # a list value makes one object per element
  filter: "!(env=retired)"
  properties: {address: "${ip}", vars.os: "${os}", groups: "${groups}", imports: [generic-host]}
  update_policy: merge          # merge | override | ignore
  purge: true                   # delete objects this rule made that left the sources
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from directord.icinga import filters, templates

ObjectType = Literal["Host", "HostGroup", "Service", "ServiceGroup", "User", "UserGroup"]
Properties = dict[str, Any]


class SyncRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    object_type: ObjectType
    sources: list[str] = Field(min_length=1)
    object_name: str
    filter: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    update_policy: Literal["merge", "override", "ignore"] = "merge"
    purge: bool = False
    description: str | None = None

    @field_validator("object_name")
    @classmethod
    def _name_template(cls, value: str) -> str:
        templates.parse(value)
        return value

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is not None:
            filters.parse(value)
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, prop in value.items():
            if not key or key.startswith(".") or key.endswith(".") or ".." in key:
                raise ValueError(f"property name {key!r}: use names like address or vars.os")
            templates.parse_value(prop)
        return value


@dataclass(frozen=True)
class CompiledRule:
    name: str
    rule: SyncRule
    object_name: templates.Template
    filter: filters.Filter | None
    properties: dict[str, Any]

    @classmethod
    def build(cls, name: str, rule: SyncRule) -> CompiledRule:
        return cls(
            name,
            rule,
            templates.parse(rule.object_name),
            filters.parse(rule.filter) if rule.filter else None,
            {k: templates.parse_value(v) for k, v in rule.properties.items()},
        )

    def objects_of(self, row: dict[str, Any]) -> list[tuple[str, Properties]]:
        """The objects one row yields: none if filtered out or nameless."""
        if self.filter is not None and not self.filter(row):
            return []
        names = self.object_name.render(row)
        if names is None:
            return []
        props: Properties = {}
        for key, value in self.properties.items():
            rendered = templates.render_value(value, row)
            if rendered is not None and rendered != "":
                props[key] = rendered
        out = []
        for name in names if isinstance(names, list) else [names]:
            text = "" if name is None else str(name).strip()
            if text:
                out.append((text, props))
        return out
