"""Check every output path of a command before it writes anything.

    check_outputs(
        inputs={"model": args.model, "data": args.csv},
        outputs={"-o": args.output, "--plot": args.plot},
        force=args.force,
    )

raises :class:`~backprop_lab._util.errors.InputError` (one line naming the option and the
path) when an output

- is the same file as an input (same path, a hard link or a symbolic link to it:
  compared by device and inode), or the same path as another output;
- is an existing folder, or its folder does not exist (it is not created: a typing
  error in a path should not leave output somewhere unexpected) or is not a folder;
- is a write-protected file (no write permission bit, or not writable by this user),
  unless ``force``: the atomic rename would otherwise replace it silently;
- lies in a folder where no file can be created (tried with a temporary file of the
  same name pattern as :func:`~backprop_lab._util.atomic.atomic_write` uses, removed at once).

``None`` is skipped, and so is ``'-'`` (standard output) for the options in ``stdout``;
for any other option ``'-'`` is refused rather than written as a file named '-'. All checks run before the first
write, so a bad ``--plot`` path is reported before the ``-o`` file is written.
:func:`check_output_folder` does the same for an output that is a folder (created
when missing). :func:`file_sha256` names the exact file a report was made from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from .atomic import TEMP_SUFFIX, temporary_prefix
from .errors import InputError

PathLike = str | Path | None


def _given(paths: Mapping[str, PathLike]) -> list[tuple[str, Path]]:
    return [(name, Path(p)) for name, p in paths.items() if p is not None and str(p) != "-"]


def _same_file(a: Path, b: Path) -> bool:
    """Same file: equal absolute paths, or (both existing) equal device and inode."""
    if Path(os.path.abspath(a)) == Path(os.path.abspath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_write_protected(path: Path) -> bool:
    """No write permission bit set at all (chmod a-w), or not writable by this user."""
    mode = os.stat(path).st_mode
    return not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK)


def _probe_folder(where: str, target: Path, folder: Path) -> None:
    """Create and remove a temporary file (named as ``target``'s would be) in ``folder``:
    the one sure test that files can be written there; ``where`` starts the message."""
    try:
        fd, probe = tempfile.mkstemp(
            prefix=temporary_prefix(target), suffix=TEMP_SUFFIX, dir=folder
        )
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError(f"{where}: cannot write in the folder {folder}: {reason}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _check_one(option: str, path: Path, force: bool) -> None:
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    folder = path.parent
    if not folder.exists():
        raise InputError(f"{option} {path}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise InputError(f"{option} {path}: {folder} is not a folder")
    if path.exists() and not force and is_write_protected(path):
        raise InputError(
            f"{option} {path}: the file is write-protected; pass --force to replace it"
        )
    _probe_folder(f"{option} {path}", path, folder)


def check_outputs(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    force: bool = False,
    stdout: Collection[str] = (),
) -> None:
    """Raise :class:`InputError` for the first output that must not be written (see above).

    ``inputs`` maps a description ('model', 'data', '--reference') to each file the
    command reads; ``outputs`` maps each output option ('-o', '--plot') to its path.
    ``force`` allows replacing write-protected files, never an input; ``stdout`` names
    the options that may be '-'.
    """
    for option, path in outputs.items():
        if path is not None and str(path) == "-" and option not in stdout:
            raise InputError(f"{option} -: cannot write this to standard output; give a file name")
    given_inputs = _given(inputs)
    given_outputs = _given(outputs)
    for i, (option, path) in enumerate(given_outputs):
        for what, source in given_inputs:
            if _same_file(path, source):
                raise InputError(
                    f"{option} {path}: is the {what} file {source} that this command reads; "
                    "writing it would destroy the input, choose another output path"
                )
        for other, earlier in given_outputs[:i]:
            if _same_file(path, earlier):
                raise InputError(
                    f"{other} and {option} both name {path}; give each output its own path"
                )
    for option, path in given_outputs:
        _check_one(option, path, force)


def _existing_ancestor(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    while not folder.exists():
        folder = folder.parent
    return folder


def check_output_folder(
    option: str, folder: str | Path, files: Iterable[str] = (), *, force: bool = False
) -> None:
    """Raise :class:`InputError` unless ``folder`` can receive a command's files.

    The folder may be missing (it will be created; its nearest existing ancestor must
    accept new entries), else it must be a folder accepting new files. ``files`` are
    paths inside it that will be replaced: each must not be a folder, nor
    write-protected unless ``force``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {folder}: exists and is not a folder")
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise InputError(f"{option} {folder}: {base} is not a folder")
    _probe_folder(f"{option} {folder}", base / folder.name, base)
    for name in files:
        path = folder / name
        if path.is_dir():
            raise InputError(f"{option} {folder}: {path} is a folder, where a file is written")
        if path.exists() and not force and is_write_protected(path):
            raise InputError(
                f"{option} {folder}: {path} is write-protected; pass --force to replace it"
            )


def check_figure_formats(figures: Mapping[str, PathLike]) -> None:
    """Raise :class:`InputError` for a figure path whose suffix matplotlib cannot write
    (checked before anything is written; no suffix means PNG). matplotlib is loaded only
    when there is a figure to check."""
    given = _given(figures)
    if not given:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    for option, path in given:
        suffix = path.suffix.lstrip(".").lower()
        if suffix and suffix not in supported:
            raise InputError(
                f"{option} {path}: cannot draw a '.{suffix}' file; use one of "
                + ", ".join(f".{s}" for s in sorted(supported))
            )


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
