"""``python -m directord`` and the ``directord`` command: signal handlers first, then the CLI
(importing it takes long enough for a SIGTERM to arrive meanwhile)."""

import sys

from directord import startup

startup.install(sys.argv[1:])

from directord.cli import main  # noqa: E402 - after the handlers, on purpose


def run() -> None:
    main(prog_name="directord")


if __name__ == "__main__":
    run()
