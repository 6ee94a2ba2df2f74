"""Write files atomically: to a temporary file in the same folder, then rename.

A crash or Ctrl-C half-way leaves the previous file (or no file) in place, never a
half-written one, because ``os.replace`` within one file system is atomic.

The folder must exist: a file is never written into a folder created on the fly (a
typing error in a path would otherwise leave output somewhere unexpected). Errors name
the file asked for, never the temporary one.

Temporary files sit beside their target, named

    .<target>~<host>~<pid>~<random>.tmp        e.g. .scores.csv~laptop~4711~k3j9x0qa.tmp

so that they are hidden, recognisably this package's, and name the process writing
them. A process killed outright (SIGKILL, power loss) cannot remove its temporary file;
the next write to the same target does (:func:`remove_stale_temporaries`). A temporary
file of that target is stale when its writer is gone (written on this host by a pid that
no longer runs) or when it has not changed for :data:`STALE_AFTER_SECONDS` (a live
writer keeps changing its file; a file from another host sharing the folder can only be
judged by age). A temporary file of a running writer is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

#: Suffix of every temporary file written here.
TEMP_SUFFIX = ".tmp"
#: A temporary file unchanged for this long (one day) is stale whoever wrote it.
STALE_AFTER_SECONDS = 24 * 3600
#: At most this many characters of the target's name go into a temporary file's name,
#: so that the name stays under the usual 255-byte limit.
_NAME_CHARS = 100
#: Errors of writing itself (full disk, quota, file size limit); reported naming the target.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


class OutputError(OSError):
    """A file could not be written; the message names the file that was asked for."""


def _host() -> str:
    """This host's name with anything but letters, digits, '.' and '-' replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"


def _prefix(path: Path) -> str:
    """'.<target>~': the start of every temporary file name of ``path``."""
    return f".{path.name[:_NAME_CHARS]}~"


def temporary_prefix(path: str | Path) -> str:
    """The start of this process's temporary file names for ``path``: '.<target>~<host>~<pid>~'."""
    return f"{_prefix(Path(path))}{_host()}~{os.getpid()}~"


def _process_running(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 tests without sending)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would end the process there: judge by age only
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    except (OverflowError, OSError):
        return False
    return True


def remove_stale_temporaries(path: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove stale temporary files of ``path`` (see the module's docstring); return them.

    Only regular files named ``.<target>~<host>~<pid>~<random>.tmp`` for this very target
    are considered; one is removed when it is older than :data:`STALE_AFTER_SECONDS`, or
    when it was written on this host by a process that is no longer running.
    """
    path = Path(path)
    prefix, host = _prefix(path), _host()
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        fields = entry.name[len(prefix) : -len(TEMP_SUFFIX)].split("~")
        if len(fields) != 3 or not fields[1].isdigit() or int(fields[1]) < 1:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        writer_gone = fields[0] == host and not _process_running(int(fields[1]))
        if age > STALE_AFTER_SECONDS or writer_gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def check_folder(path: str | Path) -> Path:
    """The folder that will hold ``path``; :class:`OutputError` if it is missing or not one."""
    folder = Path(path).parent
    if not folder.exists():
        raise OutputError(f"{path}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder")
    return folder


def _create_temporary(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=temporary_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write in the folder {path.parent}: {error.strerror or error}"
        ) from None


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: object) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    Stale temporary files of ``path`` are removed first. On any failure, Ctrl-C
    included, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    check_folder(path)
    remove_stale_temporaries(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            try:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as error:
                if error.filename is None and error.errno in _WRITE_ERRNOS:
                    raise OutputError(f"{path}: cannot write: {error.strerror}") from None
                raise
        try:
            os.chmod(tmp, _final_mode(path))  # mkstemp makes 0600 files; give the usual mode
            os.replace(tmp, path)
        except OSError as error:
            raise OutputError(f"{path}: cannot write: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _final_mode(path: Path) -> int:
    """The replaced file's permissions, or for a new file 0666 less the umask (as open())."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)
