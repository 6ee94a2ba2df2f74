"""Hostile and damaged ``.blab`` files, built by hand from the members of a real one.

Used by tests/test_modelio_attacks.py and benchmarks/model_files.py. A crafted file is
"re-signed" when its plain SHA-256 digests are recomputed, as anyone can do.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np

from backprop_lab.classifier.modelio import arrays_digest, metadata_digest

_CENTRAL = b"PK\x01\x02"


def members(path: str | Path) -> dict[str, bytes]:
    """The members of a zip file, by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zip_bytes(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``entries`` in order (the same name may come twice)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """An .npy version 1.0 header declaring ``shape`` and ``descr``, values not included."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def resign(metadata: dict, arrays_sha256: str) -> dict:
    """``metadata`` with its integrity block recomputed: plain digests, no HMAC."""
    metadata = {k: v for k, v in metadata.items() if k != "integrity"}
    integrity = {"arrays_sha256": arrays_sha256, "metadata_sha256": metadata_digest(metadata)}
    return {**metadata, "integrity": integrity}


def write_model(
    path: str | Path,
    metadata: dict | str | bytes,
    arrays: dict[str, np.ndarray] | bytes,
    *,
    resigned: bool = True,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A model zip from metadata (a dict, or raw JSON text) and arrays (or raw .npz bytes).

    With ``resigned``, a dict's digests are recomputed for the arrays given (raw .npz
    bytes keep the digest the metadata has). ``compression`` packs both members.
    """
    raw_arrays = arrays if isinstance(arrays, bytes) else npz_bytes(arrays)
    if isinstance(metadata, dict):
        if resigned:
            digest = (
                metadata["integrity"]["arrays_sha256"]
                if isinstance(arrays, bytes)
                else arrays_digest(arrays)
            )
            metadata = resign(metadata, digest)
        metadata = json.dumps(metadata)
    raw_metadata = metadata.encode() if isinstance(metadata, str) else metadata
    path = Path(path)
    entries = [("metadata.json", raw_metadata), ("arrays.npz", raw_arrays)]
    path.write_bytes(zip_bytes(entries, compression))
    return path


def patch_directory(
    data: bytes,
    name: str,
    *,
    flag_bits: int | None = None,
    compress_type: int | None = None,
    file_size: int | None = None,
) -> bytes:
    """A zip's bytes with fields of ``name``'s central directory entry replaced.

    zipfile trusts the central directory for these, so this is what a crafted file does.
    """
    data = bytearray(data)
    start = 0
    while (start := data.find(_CENTRAL, start)) >= 0:
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46 : start + 46 + name_length] == name.encode():
            if flag_bits is not None:
                struct.pack_into("<H", data, start + 8, flag_bits)
            if compress_type is not None:
                struct.pack_into("<H", data, start + 10, compress_type)
            if file_size is not None:
                struct.pack_into("<I", data, start + 24, file_size)
            return bytes(data)
        start += 4
    raise KeyError(name)


def zeros_bomb_npz(name: str, n_bytes: int, others: dict[str, np.ndarray]) -> bytes:
    """An .npz whose member ``name``.npy declares ``n_bytes`` of float64 zeros, deflated
    (about 1/1000 of its size), beside the arrays ``others``; written in chunks."""
    count = n_bytes // 8
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as npz:
        for other, array in others.items():
            npz.writestr(f"{other}.npy", _npy_bytes(array))
        with npz.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(npy_header((count,)))
            chunk = bytes(2**24)
            left = count * 8
            while left:
                member.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
    return buffer.getvalue()


def declared_array_npz(
    name: str, shape: tuple[int, ...], others: dict[str, np.ndarray], values: bytes = b""
) -> bytes:
    """An .npz whose member ``name``.npy declares ``shape`` (float64) but holds ``values``."""
    return zip_bytes(
        [
            *((f"{k}.npy", _npy_bytes(v)) for k, v in others.items()),
            (f"{name}.npy", npy_header(shape) + values),
        ],
        compression=zipfile.ZIP_STORED,
    )


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
