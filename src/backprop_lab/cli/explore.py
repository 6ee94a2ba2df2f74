"""``backprop-lab explore``: start the explorer's local web server and open the page."""

from __future__ import annotations

import argparse
import sys
import threading

from .._util.errors import InputError


def _warm_up() -> None:
    """Build a throwaway session of the default settings and train it one epoch.

    This loads what a page's first session and first Step need (pandas, SciPy and
    scikit-learn's split, about a second together) while the server already answers; it
    changes nothing that a session computes. A failure here is left to the page's own
    request to report.
    """
    from ..explorer.params import Config
    from ..explorer.sessions import Session

    try:
        Session("warm-up", Config()).step(1)
    except Exception:  # only a head start: the page's own request reports the error
        pass


def _explore(args: argparse.Namespace) -> int:
    from ..explorer.server import ExplorerServer

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535; got {args.port}")
    server = ExplorerServer(args.port)
    threading.Thread(target=_warm_up, name="explorer-warm-up", daemon=True).start()
    print(f"backprop-lab explorer: {server.url}  (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser  # its subprocess and shutil only for a browser to open

        webbrowser.open(server.url)
    try:
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches the KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("backprop-lab explorer: stopped", file=sys.stderr, flush=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``explore`` subcommand."""
    p = sub.add_parser(
        "explore",
        help="watch backprop in the browser: train, trace one borrower, check gradients",
        description="Start a local web server on 127.0.0.1 with an interactive explorer of "
        "the credit-risk network: train it epoch by epoch, trace one borrower through a "
        "forward and a backward pass with every number shown, and run the gradient check. "
        "Ctrl-C stops the server.",
    )
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    p.add_argument(
        "--no-browser", action="store_true", help="print the address but do not open a browser"
    )
    p.set_defaults(func=_explore)
