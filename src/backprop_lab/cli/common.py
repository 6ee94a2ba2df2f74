"""What the subcommands that read a user's CSV file share: the note on row numbers in
help texts, and warnings shown as one line each."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

from .._util.outputs import file_sha256 as file_sha256

ROWS_NOTE = "Rows in messages are data rows counted from 1 (the first line below the header)."


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show each warning as ``backprop-lab: warning: ...`` on stderr, without source lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"backprop-lab: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield
