"""``backprop-lab`` and ``python -m backprop_lab``: the command line, safe to interrupt from
its first instant.

The command line itself is imported inside :func:`run` (pandas, scikit-learn and
matplotlib take a second or more to load), so Ctrl-C during start-up prints one line and
exits with 130, like Ctrl-C later on, instead of a page of traceback. SIGTERM (``kill``)
raises an exception as Ctrl-C does, so half-written outputs are removed on the way out;
it exits with 143 (128 + SIGTERM). Only SIGKILL leaves a temporary file behind, and the
next write to the same file removes it (see :mod:`backprop_lab._util.atomic`).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

#: Exit statuses as a shell reports a process ended by SIGINT or SIGTERM: 128 + signal.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with one-line handling of Ctrl-C and SIGTERM; the exit status."""
    try:
        if threading.current_thread() is threading.main_thread():  # signals need it
            signal.signal(signal.SIGTERM, _raise_terminated)
        from .cli import main

        return main(argv)
    except KeyboardInterrupt:
        print("backprop-lab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("backprop-lab: terminated", file=sys.stderr)
        return EXIT_TERMINATED


if __name__ == "__main__":
    raise SystemExit(run())
