"""``python -m directord``."""

from directord.cli import main

main(prog_name="directord")
