"""Desired objects and change sets. Pure.

Objects are (type, name) with flat properties (``address``, ``vars.os``, ``groups``); a change set
says per object what is created, modified (with before/after of each changed property) or
deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from directord.icinga.rules import CompiledRule, Properties

Row = dict[str, Any]


@dataclass(frozen=True)
class StoredObject:
    type: str
    name: str
    properties: Properties
    rule: str | None  # the rule that created it


@dataclass(frozen=True)
class Change:
    action: Literal["create", "modify", "delete"]
    type: str
    name: str
    # property -> [before, after]; None means absent
    properties: dict[str, list[Any]] = field(default_factory=dict)
    after: Properties | None = None  # the object's full properties after the change

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "type": self.type,
            "name": self.name,
            "properties": self.properties,
        }


def desired(rule: CompiledRule, sources: Iterable[list[Row]]) -> dict[str, Properties]:
    """Every object the rule wants, by name. Sources come in priority order: for each object,
    each property is taken from the first (highest-priority) source row that gives it."""
    out: dict[str, Properties] = {}
    for rows in sources:
        for row in rows:
            for name, props in rule.objects_of(row):
                have = out.setdefault(name, {})
                for key, value in props.items():
                    have.setdefault(key, value)
    return out


def diff(
    rule: CompiledRule, wanted: dict[str, Properties], existing: dict[str, StoredObject]
) -> list[Change]:
    """What turns ``existing`` (objects of the rule's type) into what the rule wants."""
    policy = rule.rule.update_policy
    kind = rule.rule.object_type
    changes: list[Change] = []
    for name in sorted(wanted):
        props = wanted[name]
        current = existing.get(name)
        if current is None:
            changes.append(
                Change(
                    "create", kind, name, {k: [None, v] for k, v in sorted(props.items())}, props
                )
            )
            continue
        if policy == "ignore":
            continue
        old = current.properties
        new = dict(props) if policy == "override" else {**old, **props}
        delta = {
            k: [old.get(k), new.get(k)]
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        }
        if delta:
            changes.append(Change("modify", kind, name, delta, new))
    if rule.rule.purge:
        for name in sorted(existing):
            obj = existing[name]
            if name not in wanted and obj.rule == rule.name:
                changes.append(
                    Change(
                        "delete",
                        kind,
                        name,
                        {k: [v, None] for k, v in sorted(obj.properties.items())},
                    )
                )
    return changes


def counts(changes: list[Change]) -> dict[str, int]:
    out = {"created": 0, "modified": 0, "deleted": 0}
    for change in changes:
        out[{"create": "created", "modify": "modified", "delete": "deleted"}[change.action]] += 1
    return out
