"""The HTTP face of the daemon: health, status, metrics, the JSON API (same loop as the jobs)."""
