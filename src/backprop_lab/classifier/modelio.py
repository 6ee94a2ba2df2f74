"""The ``.blab`` model file: a zip of ``metadata.json`` and ``arrays.npz``. No pickle.

* ``metadata.json``: everything that is not an array, as JSON, with
  ``format = "backprop-lab model"``, a ``schema_version`` and an ``integrity`` block
  holding SHA-256 digests of the arrays and of the rest of the metadata;
* ``arrays.npz``: the NumPy arrays (the network's weights), loaded with
  ``allow_pickle=False``, so loading a file never runs code from it.

Writing goes to a temporary file that is renamed over the target only when complete,
so an interrupted save leaves the previous file intact. Reading refuses, with a
one-line reason, a file that is not a zip, is truncated or corrupted, fails its
digests (edited by hand or damaged), or comes from a newer schema than this code reads.

This module knows nothing of networks or preprocessing: it stores a dict and arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._util.atomic import atomic_write
from .._util.validation import InputError

FORMAT = "backprop-lab model"
#: The newest layout this code reads; bump it when the layout changes.
#: Schema 1: task, preprocessing, network, classifier, fit, training, metrics.
#: Schema 2: schema 1 plus a ``calibration`` block (post-hoc calibration of the output).
#: A file is written with the oldest schema that describes it, so a model without
#: calibration stays readable by versions that know schema 1 only, while one with
#: calibration is refused by them instead of silently giving uncalibrated probabilities.
SCHEMA_VERSION = 2
METADATA_MEMBER = "metadata.json"
ARRAYS_MEMBER = "arrays.npz"
#: Refuse members larger than this when unpacked (a damaged or hostile size field).
MAX_MEMBER_BYTES = 2**31


class ModelFileError(InputError):
    """A model file that cannot be trusted or read; the message says why."""


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(_canonical_json([name, a.dtype.str, list(a.shape)]))
        h.update(a.tobytes())
    return h.hexdigest()


def metadata_digest(metadata: dict) -> str:
    """SHA-256 of the canonical JSON of the metadata without its ``integrity`` block."""
    body = {k: v for k, v in metadata.items() if k != "integrity"}
    return hashlib.sha256(_canonical_json(body)).hexdigest()


def write_model_file(
    path: str | Path,
    metadata: dict,
    arrays: dict[str, np.ndarray],
    *,
    schema_version: int = SCHEMA_VERSION,
) -> None:
    """Write ``metadata`` (JSON-able, no NaN) and ``arrays`` to ``path`` atomically.

    ``schema_version`` is the layout the metadata follows (1 to :data:`SCHEMA_VERSION`).
    """
    if isinstance(schema_version, bool) or schema_version not in range(1, SCHEMA_VERSION + 1):
        raise ValueError(f"schema_version must be 1 to {SCHEMA_VERSION}; got {schema_version!r}")
    for name, a in arrays.items():
        if np.asarray(a).dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; only numeric arrays are saved")
    metadata = {k: v for k, v in metadata.items() if k != "integrity"}
    metadata = {"format": FORMAT, "schema_version": schema_version, **metadata}
    metadata["integrity"] = {
        "arrays_sha256": arrays_digest(arrays),
        "metadata_sha256": metadata_digest(metadata),
    }
    text = json.dumps(metadata, indent=1, allow_nan=False, sort_keys=False)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
    with (
        atomic_write(path, "wb") as handle,
        zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr(METADATA_MEMBER, text)
        archive.writestr(ARRAYS_MEMBER, buffer.getvalue())


def read_model_file(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify a model file; return (metadata, arrays) or raise ModelFileError."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError("no such model file", file=path)
    if path.is_dir():
        raise ModelFileError("is a folder, not a model file", file=path)

    def refuse(reason: str) -> ModelFileError:
        return ModelFileError(f"not a usable backprop-lab model file: {reason}", file=path)

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for member in (METADATA_MEMBER, ARRAYS_MEMBER):
                if member not in names:
                    raise refuse(f"it has no {member}")
                if archive.getinfo(member).file_size > MAX_MEMBER_BYTES:
                    raise refuse(f"{member} is implausibly large")
            raw_metadata = archive.read(METADATA_MEMBER)
            raw_arrays = archive.read(ARRAYS_MEMBER)
    except ModelFileError:
        raise
    except zipfile.BadZipFile as error:
        raise refuse(f"damaged or truncated ({error})") from None
    except (zlib.error, EOFError, OSError) as error:
        raise refuse(f"damaged or truncated ({type(error).__name__}: {error})") from None

    try:
        metadata = json.loads(raw_metadata)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise refuse(f"{METADATA_MEMBER} is not valid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise refuse(f"{METADATA_MEMBER} does not describe a backprop-lab model")
    version = metadata.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise refuse(f"invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise ModelFileError(
            f"written by a newer backprop-lab (model schema {version}; this version reads "
            f"schema {SCHEMA_VERSION} and older); upgrade backprop-lab to load it",
            file=path,
        )
    integrity = metadata.get("integrity")
    if not isinstance(integrity, dict):
        raise refuse("it has no integrity block")

    try:
        with np.load(io.BytesIO(raw_arrays), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise refuse(
            f"{ARRAYS_MEMBER} cannot be read without pickle or is damaged ({error})"
        ) from None

    if arrays_digest(arrays) != integrity.get("arrays_sha256"):
        raise refuse("the weights do not match their SHA-256 digest (edited or damaged)")
    if metadata_digest(metadata) != integrity.get("metadata_sha256"):
        raise refuse("the metadata does not match its SHA-256 digest (edited or damaged)")
    return metadata, arrays
