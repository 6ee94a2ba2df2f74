"""Zip members read in bounded memory: one member by name, its packing checked, and a
read that stops at the size the zip directory gives.

Members must be stored or deflated, and neither encrypted nor patched; a member is
refused unread when the directory says it unpacks to more than the caller's limit, and
read in chunks straight into its target, so no second copy of it is made.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

#: Zip flag bits for encryption (0, 6, 13) and patch data (5): never in a model file.
_REFUSED_FLAGS = 0x1 | 0x20 | 0x40 | 0x2000
_COMPRESSIONS = frozenset((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
_CHUNK_BYTES = 2**16


def member(archive: zipfile.ZipFile, name: str, refuse: Callable) -> zipfile.ZipInfo:
    """The one member called ``name``, if it is one that can be read as it is packed."""
    infos = [info for info in archive.infolist() if info.filename == name]
    if not infos:
        raise refuse(f"it has no {name}")
    if len(infos) > 1:
        raise refuse(f"it holds {len(infos)} members called {name}")
    check_packing(infos[0], name, refuse)
    return infos[0]


def check_packing(info: zipfile.ZipInfo, what: str, refuse: Callable) -> None:
    if info.flag_bits & _REFUSED_FLAGS:
        raise refuse(
            f"{what} is encrypted or patched (zip flags {info.flag_bits:#06x}); "
            "model files never are"
        )
    if info.compress_type not in _COMPRESSIONS:
        raise refuse(
            f"{what} is packed with zip compression method {info.compress_type}; "
            "only stored (0) and deflated (8) are read"
        )


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str, refuse: Callable
) -> bytes:
    """The member's bytes, refused unread if the zip directory says they exceed ``limit``.

    The read stops at the size in the directory, whatever the compressed stream holds
    (zipfile then finds the CRC-32 wrong if the stream held more).
    """
    if info.file_size > limit:
        raise refuse(f"{info.filename} unpacks to {info.file_size:,} bytes; {what} {limit:,}")
    data = bytearray(info.file_size)
    with archive.open(info) as stream:
        read_into(stream, memoryview(data), info.filename, refuse)
    return data


def read_into(stream: io.BufferedIOBase, target: memoryview, what: str, refuse: Callable) -> None:
    """Fill ``target`` from ``stream`` in chunks, so that no second copy of it is made."""
    done = 0
    while done < len(target):
        chunk = stream.read(min(_CHUNK_BYTES, len(target) - done))
        if not chunk:
            raise refuse(f"{what} is truncated")
        target[done : done + len(chunk)] = chunk
        done += len(chunk)
