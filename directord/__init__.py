"""directord: a job runner for Icinga (import, sync, config deployment, housekeeping)."""

__version__ = "0.1.0"
