"""The package's error for bad input, in a module that imports nothing.

The command line's parser and its output checks raise it; NumPy (which
:mod:`backprop_lab._util.validation` needs for its checks) loads only when a command runs.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input, with the place it was found (file, column, row) in the message."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        where = []
        if file is not None:
            where.append(str(file))
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        self.file, self.column, self.row = file, column, row
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
