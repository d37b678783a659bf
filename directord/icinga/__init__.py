"""Icinga data: import sources, modifiers, sync rules, desired objects, rendering, the REST API."""
