"""Icinga Director's own jobs, run by directord: the Director database as a job source."""
