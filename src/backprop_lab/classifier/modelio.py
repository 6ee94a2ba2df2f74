"""The ``.blab`` model file: a zip of ``metadata.json`` and ``arrays.npz``. No pickle.

* ``metadata.json``: everything that is not an array, as JSON, with
  ``format = "backprop-lab model"``, a ``schema_version`` and an ``integrity`` block
  holding SHA-256 digests of the arrays and of the rest of the metadata (and, when a
  model key is set, an HMAC-SHA256 of those digests: see :func:`model_key`);
* ``arrays.npz``: the NumPy arrays (the network's weights) as ``.npy`` members, read
  member by member from their headers, so loading a file never runs code from it.

Writing goes to a temporary file that is renamed over the target only when complete,
so an interrupted save leaves the previous file intact.

Reading is bounded in cost and checked in value, whatever the file claims; each step
is checked before the next reads more. Members must be stored or deflated and not
encrypted. ``metadata.json`` must unpack, by the size in the zip directory, to at most
:data:`MAX_METADATA_BYTES`, hold at most :data:`MAX_METADATA_CONTAINERS` lists and
objects nested at most :data:`MAX_METADATA_DEPTH` deep, and no NaN, infinity or
integer longer than :data:`MAX_INTEGER_DIGITS` digits; its digest (and HMAC, with a
key) must hold. The caller's ``array_shapes`` turns the metadata into the shape of
every array (refusing what it does not describe); all arrays together may hold at
most :data:`MAX_PARAMETERS` numbers. Then the size of each member in the zip directory
must be what those shapes need, each ``.npy`` header must declare the expected shape
and a real floating-point dtype, reads stop at the declared size, and every value must
be finite. Anything else is refused with a one-line :class:`ModelFileError` naming the
file and the reason.

What the digests do and do not protect against: a plain SHA-256 digest catches
accidents (a truncated copy, flipped bits, a hand edit that forgot the digest), not a
deliberate edit, since anyone can recompute it. An HMAC needs the key, so with a model
key set, an edited file is refused. Either way, values are checked on load, so a file
cannot smuggle in NaN weights or shapes that disagree with the metadata.

This module knows nothing of networks or preprocessing: it stores a dict and arrays.
The digests and the HMAC are computed in :mod:`~backprop_lab.classifier.model_signing`,
zip members read in :mod:`~backprop_lab.classifier.zip_members`.
"""

from __future__ import annotations

import hmac
import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .._util.atomic import atomic_write
from .._util.validation import InputError
from .model_signing import FORMAT as FORMAT
from .model_signing import KEY_ENV as KEY_ENV
from .model_signing import KEY_FILE_ENV as KEY_FILE_ENV
from .model_signing import MIN_KEY_BYTES as MIN_KEY_BYTES
from .model_signing import arrays_digest as arrays_digest
from .model_signing import metadata_digest as metadata_digest
from .model_signing import model_key as model_key
from .model_signing import signature as signature
from .zip_members import check_packing, member, read_into, read_member

#: The newest layout this code reads; bump it when the layout changes.
#: Schema 1: task, preprocessing, network, classifier, fit, training, metrics.
#: Schema 2: schema 1 plus a ``calibration`` block (post-hoc calibration of the output).
#: A file is written with the oldest schema that describes it, so a model without
#: calibration stays readable by versions that know schema 1 only, while one with
#: calibration is refused by them instead of silently giving uncalibrated probabilities.
SCHEMA_VERSION = 2
METADATA_MEMBER = "metadata.json"
ARRAYS_MEMBER = "arrays.npz"

#: The most numbers all arrays of a model file may hold together: 10 million
#: (80 MB as float64), far above any network for tabular data.
MAX_PARAMETERS = 10_000_000
#: The largest ``metadata.json`` read, unpacked (a saved model's is a few KB; the loss
#: and validation curves of 50,000 epochs take 2.4 MB). Parsed, it takes up to ~20
#: times as much memory (short strings, the costliest values within the limits below).
MAX_METADATA_BYTES = 4 * 2**20
#: The most lists and objects read in ``metadata.json``, counted as its ``[`` and ``{``
#: characters (a saved model has a few dozen); each costs ~64 bytes parsed.
MAX_METADATA_CONTAINERS = 100_000
#: The deepest nesting of lists and objects read in ``metadata.json`` (a saved model's
#: is at most 5).
MAX_METADATA_DEPTH = 32
#: The longest integer read in ``metadata.json``, in digits (a 128-bit seed has 39).
MAX_INTEGER_DIGITS = 40
#: Bytes an array may take in ``arrays.npz`` beyond its values: its ``.npy`` header (at
#: most :data:`MAX_NPY_HEADER_BYTES`) and its zip records (name, sizes, checksums).
ARRAY_OVERHEAD_BYTES = 2048
MAX_NPY_HEADER_BYTES = 1024
#: The widest dtype read, in bytes per number (float64).
_MAX_ITEMSIZE = 8
_CONTAINER_TYPES = frozenset((dict, list))
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_INTEGER_DIGITS + 1))


class ModelFileError(InputError):
    """A model file that cannot be trusted or read; the message says why."""


# ---- writing ---------------------------------------------------------------------------
def write_model_file(
    path: str | Path,
    metadata: dict,
    arrays: Mapping[str, np.ndarray],
    *,
    schema_version: int = SCHEMA_VERSION,
) -> None:
    """Write ``metadata`` (JSON-able, no NaN) and ``arrays`` to ``path`` atomically.

    ``schema_version`` is the layout the metadata follows (1 to :data:`SCHEMA_VERSION`).
    Arrays must be finite real floating-point numbers, and everything within the limits
    that reading enforces, so that every file written can be read. With a model key set
    (:func:`model_key`), the integrity block also holds an HMAC-SHA256.
    """
    if isinstance(schema_version, bool) or schema_version not in range(1, SCHEMA_VERSION + 1):
        raise ValueError(f"schema_version must be 1 to {SCHEMA_VERSION}; got {schema_version!r}")
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    for name, a in arrays.items():
        if a.dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; only numeric arrays are saved")
        if problem := _value_problem(a):
            raise ValueError(f"array {name!r} {problem}")
    total = sum(a.size for a in arrays.values())
    if total > MAX_PARAMETERS:
        raise ValueError(
            f"the arrays hold {total:,} numbers; a model file holds at most {MAX_PARAMETERS:,}"
        )
    metadata = {k: v for k, v in metadata.items() if k != "integrity"}
    metadata = {"format": FORMAT, "schema_version": schema_version, **metadata}
    integrity = {
        "arrays_sha256": arrays_digest(arrays),
        "metadata_sha256": metadata_digest(metadata),
    }
    key = model_key()
    if key is not None:
        integrity["hmac_sha256"] = signature(key, integrity)
    metadata["integrity"] = integrity
    text = json.dumps(metadata, indent=1, allow_nan=False, sort_keys=False)
    size = len(text.encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"the metadata takes {size:,} bytes as JSON; a model file holds at most "
            f"{MAX_METADATA_BYTES:,}"
        )
    if (containers := _container_count(text.encode())) > MAX_METADATA_CONTAINERS:
        raise ValueError(
            f"the metadata holds {containers:,} lists and objects; a model file holds at most "
            f"{MAX_METADATA_CONTAINERS:,}"
        )
    if (depth := _nesting_depth(metadata, MAX_METADATA_DEPTH)) > MAX_METADATA_DEPTH:
        raise ValueError(
            f"the metadata is nested {depth} levels deep; a model file holds at most "
            f"{MAX_METADATA_DEPTH}"
        )
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
    with (
        atomic_write(path, "wb") as handle,
        zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, content in ((METADATA_MEMBER, text), (ARRAYS_MEMBER, buffer.getvalue())):
            # a fixed date (zip's earliest), so the same model gives the same file's bytes
            member = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)


# ---- reading ---------------------------------------------------------------------------
ArrayShapes = Callable[[dict], Mapping[str, tuple[int, ...]]]


def read_model_file(
    path: str | Path, *, array_shapes: ArrayShapes | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify a model file; return (metadata, arrays) or raise ModelFileError.

    ``array_shapes(metadata)`` gives the name and shape of every array the metadata
    describes, or raises ValueError for metadata it cannot use; it is called once the
    metadata's digest holds and before any array is unpacked. The file must then hold
    exactly those arrays. Without it, any arrays within :data:`MAX_PARAMETERS` are read.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError("no such model file", file=path)
    if path.is_dir():
        raise ModelFileError("is a folder, not a model file", file=path)

    def refuse(reason: str) -> ModelFileError:
        return ModelFileError(f"not a usable backprop-lab model file: {reason}", file=path)

    try:
        with zipfile.ZipFile(path) as archive:
            metadata_info = member(archive, METADATA_MEMBER, refuse)
            arrays_info = member(archive, ARRAYS_MEMBER, refuse)
            raw = read_member(archive, metadata_info, MAX_METADATA_BYTES, "the limit is", refuse)
            metadata = _parse_metadata(raw, refuse)
            _verify_metadata(metadata, path, refuse)
            shapes = None
            if array_shapes is not None:
                try:
                    shapes = {name: tuple(shape) for name, shape in array_shapes(metadata).items()}
                except ValueError as error:
                    raise refuse(str(error)) from None
            limit, what = _arrays_member_limit(shapes, refuse)
            npz = io.BytesIO(read_member(archive, arrays_info, limit, what, refuse))
        arrays = _read_arrays(npz, shapes, refuse)
    except ModelFileError:
        raise
    except zipfile.BadZipFile as error:
        raise refuse(f"damaged or truncated ({error})") from None
    except (zlib.error, EOFError, OSError) as error:
        raise refuse(f"damaged or truncated ({type(error).__name__}: {error})") from None

    if arrays_digest(arrays) != metadata["integrity"]["arrays_sha256"]:
        raise refuse("the weights do not match their SHA-256 digest (edited or damaged)")
    return metadata, arrays


class _JSONValueError(ValueError):
    """A JSON value that metadata.json may not hold."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise _JSONValueError(
            f"holds an integer of {digits} digits; at most {MAX_INTEGER_DIGITS} are read"
        )
    return int(text)


def _parse_constant(name: str) -> float:
    raise _JSONValueError(f"holds {name}, which is not a number")


def _container_count(text: bytes) -> int:
    """An upper bound on the lists and objects in JSON text (brackets in strings count too)."""
    return text.count(b"[") + text.count(b"{")


def _nesting_depth(value: object, limit: int) -> int:
    """Levels of lists and objects in ``value`` (a scalar: 0), counted up to ``limit`` + 1.

    Level by level; a list or object without lists or objects in it is passed over by
    the types of its items alone (``map(type, ...)`` runs in C), so a long list of
    numbers costs little.
    """
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [item for item in level if type(item) in (dict, list)]
        if level:
            depth += 1
        deeper = []
        for item in level:
            children = item.values() if type(item) is dict else item
            if not _CONTAINER_TYPES.isdisjoint(map(type, children)):
                deeper.extend(children)
        level = deeper
    return depth


def _parse_metadata(raw: bytes, refuse: Callable) -> dict:
    """metadata.json as a dict of plain JSON values: finite numbers, bounded nesting."""
    if (containers := _container_count(raw)) > MAX_METADATA_CONTAINERS:
        raise refuse(
            f"{METADATA_MEMBER} holds {containers:,} '[' and '{{' (lists and objects); at most "
            f"{MAX_METADATA_CONTAINERS:,} are read"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refuse(f"{METADATA_MEMBER} is not UTF-8 text ({error})") from None
    # Integers go through the checking hook only if the text has a run of more than
    # MAX_INTEGER_DIGITS digits, without which none is too long; otherwise json's own C
    # parser reads them (several times faster). Floats too large (1e999 is inf) are
    # refused by the digest, which allows no infinity.
    long_digits = _LONG_DIGITS.search(raw) is not None
    try:
        metadata = json.loads(
            text,
            parse_int=_parse_int if long_digits else None,
            parse_constant=_parse_constant,
        )
    except _JSONValueError as error:
        raise refuse(f"{METADATA_MEMBER} {error}") from None
    except json.JSONDecodeError as error:
        raise refuse(f"{METADATA_MEMBER} is not valid JSON ({error})") from None
    except RecursionError:
        raise refuse(
            f"{METADATA_MEMBER} is nested too deeply to parse; at most "
            f"{MAX_METADATA_DEPTH} levels are read"
        ) from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise refuse(f"{METADATA_MEMBER} does not describe a backprop-lab model")
    if (depth := _nesting_depth(metadata, MAX_METADATA_DEPTH)) > MAX_METADATA_DEPTH:
        raise refuse(
            f"{METADATA_MEMBER} is nested {depth} or more levels deep; at most "
            f"{MAX_METADATA_DEPTH} are read"
        )
    return metadata


def _verify_metadata(metadata: dict, path: Path, refuse: Callable) -> None:
    """Schema version, integrity block, metadata digest and, with a model key, the HMAC."""
    version = metadata.get("schema_version")
    if type(version) is not int or version < 1:
        raise refuse(f"schema_version must be a positive integer; got {short_repr(version)}")
    if version > SCHEMA_VERSION:
        raise ModelFileError(
            f"written by a newer backprop-lab (model schema {short_repr(version)}; this version reads "
            f"schema {SCHEMA_VERSION} and older); upgrade backprop-lab to load it",
            file=path,
        )
    integrity = metadata.get("integrity")
    if not isinstance(integrity, dict):
        raise refuse("it has no integrity block")
    for field in ("arrays_sha256", "metadata_sha256"):
        if not _is_hex_digest(integrity.get(field)):
            raise refuse(f"integrity.{field} is not a SHA-256 digest")
    try:
        digest = metadata_digest(metadata)
    except ValueError:  # the canonical JSON allows no NaN or infinity: 1e999 parsed as inf
        raise refuse(f"{METADATA_MEMBER} holds a number too large for a float") from None
    if digest != integrity["metadata_sha256"]:
        raise refuse("the metadata does not match its SHA-256 digest (edited or damaged)")
    key = model_key()
    if key is None:
        return
    stored = integrity.get("hmac_sha256")
    if stored is None:
        raise refuse(
            f"it has no HMAC signature, and a model key is set ({KEY_ENV} or "
            f"{KEY_FILE_ENV}): it was saved without the key, or edited"
        )
    if not isinstance(stored, str) or not hmac.compare_digest(stored, signature(key, integrity)):
        raise refuse(
            "its HMAC signature does not match the model key: it was edited, "
            "or saved with another key"
        )


def _is_hex_digest(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def short_repr(value: object) -> str:
    """A value for a one-line message: repr up to 60 characters, big containers by size."""
    if isinstance(value, dict | list) and len(value) > 10:
        kind = "object" if isinstance(value, dict) else "list"
        return f"a {kind} of {len(value):,} items"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _arrays_member_limit(
    shapes: dict[str, tuple[int, ...]] | None, refuse: Callable
) -> tuple[int, str]:
    """The most bytes arrays.npz may unpack to, and words naming that limit."""
    if shapes is None:
        return MAX_PARAMETERS * _MAX_ITEMSIZE + ARRAY_OVERHEAD_BYTES * 64, "the limit is"
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_PARAMETERS:
        raise refuse(
            f"the metadata describes arrays of {total:,} numbers; a model file holds at "
            f"most {MAX_PARAMETERS:,}"
        )
    limit = total * _MAX_ITEMSIZE + ARRAY_OVERHEAD_BYTES * (len(shapes) + 1)
    return limit, "the arrays the metadata describes take at most"


def _read_arrays(
    file: io.BytesIO, shapes: dict[str, tuple[int, ...]] | None, refuse: Callable
) -> dict[str, np.ndarray]:
    """The arrays of an .npz, each checked against ``shapes`` before its values are read."""
    try:
        with zipfile.ZipFile(file) as npz:
            infos = npz.infolist()
            names = [info.filename.removesuffix(".npy") for info in infos]
            for info, name in zip(infos, names, strict=True):
                if name == info.filename or not name:
                    raise refuse(
                        f"{ARRAYS_MEMBER} holds {short_repr(info.filename)}, not a .npy array"
                    )
            if len(set(names)) != len(names):
                raise refuse(f"{ARRAYS_MEMBER} holds an array twice")
            if shapes is not None and sorted(names) != sorted(shapes):
                held = sorted(names) if len(names) <= 10 else f"{len(names)} arrays"
                raise refuse(
                    f"{ARRAYS_MEMBER} holds {held}; the metadata describes {sorted(shapes)}"
                )
            arrays: dict[str, np.ndarray] = {}
            budget = MAX_PARAMETERS
            for info, name in zip(infos, names, strict=True):
                expected = None if shapes is None else shapes[name]
                arrays[name] = _read_array(npz, info, name, expected, budget, refuse)
                budget -= arrays[name].size
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise refuse(f"{ARRAYS_MEMBER} is damaged ({type(error).__name__}: {error})") from None
    return arrays


def _read_array(
    npz: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    expected: tuple[int, ...] | None,
    budget: int,
    refuse: Callable,
) -> np.ndarray:
    """One .npy member: packing, header, declared size, then the values, then finiteness.

    ``budget``: how many numbers the arrays not yet read may hold together.
    """
    what = f"array {name}"
    check_packing(info, what, refuse)
    if expected is not None:
        limit = math.prod(expected) * _MAX_ITEMSIZE + ARRAY_OVERHEAD_BYTES
        words = f"its shape {expected} takes at most"
    else:
        limit = budget * _MAX_ITEMSIZE + ARRAY_OVERHEAD_BYTES
        words = "the limit is"
    if info.file_size > limit:
        raise refuse(f"{what} unpacks to {info.file_size:,} bytes; {words} {limit:,}")
    with npz.open(info) as stream:
        shape, fortran_order, dtype, header_bytes = _read_npy_header(stream, what, refuse)
        if dtype.hasobject:
            raise refuse(f"{what} holds Python objects, which cannot be read without pickle")
        if dtype.kind != "f" or dtype.itemsize > _MAX_ITEMSIZE:
            raise refuse(
                f"{what} has dtype {short_repr(str(dtype))}; only real floating-point arrays "
                "(float16, float32, float64) are read"
            )
        if expected is not None and shape != expected:
            raise refuse(f"{what} has shape {shape}; the metadata describes {expected}")
        count = math.prod(shape)
        if count > budget:
            raise refuse(
                f"{what} declares {count:,} numbers, more than the {MAX_PARAMETERS:,} a model "
                "file holds (all arrays together)"
            )
        nbytes = count * dtype.itemsize
        if info.file_size != header_bytes + nbytes:
            raise refuse(
                f"{what} is {info.file_size:,} bytes in the zip directory, but a {shape} "
                f"{dtype} array takes {header_bytes + nbytes:,}"
            )
        values = np.empty(count, dtype=dtype)
        read_into(stream, memoryview(values.view(np.uint8)), what, refuse)
    array = values.reshape(shape, order="F" if fortran_order else "C")
    if problem := _value_problem(array):
        raise refuse(f"{what} {problem}")
    return array


def _read_npy_header(
    stream: io.BufferedIOBase, what: str, refuse: Callable
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header bytes) of an .npy stream, values unread."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
    except ValueError:
        raise refuse(f"{what} is not a NumPy .npy array") from None
    readers = {(1, 0): (2, fmt.read_array_header_1_0), (2, 0): (4, fmt.read_array_header_2_0)}
    if version not in readers:
        raise refuse(f"{what} is .npy format version {version}; versions 1.0 and 2.0 are read")
    size_bytes, read_header = readers[version]
    size_field = stream.read(size_bytes)
    header_size = int.from_bytes(size_field, "little")
    if len(size_field) != size_bytes or header_size > MAX_NPY_HEADER_BYTES:
        raise refuse(
            f"{what} has a .npy header of {header_size:,} bytes; at most "
            f"{MAX_NPY_HEADER_BYTES:,} are read"
        )
    header = stream.read(header_size)
    try:
        shape, fortran_order, dtype = read_header(io.BytesIO(size_field + header))
    except (ValueError, TypeError, SyntaxError, RecursionError) as error:
        raise refuse(f"{what} has an unreadable .npy header ({short_repr(str(error))})") from None
    if any(s < 0 for s in shape):
        raise refuse(f"{what} has a negative dimension in its shape {shape}")
    return shape, fortran_order, dtype, fmt.MAGIC_LEN + size_bytes + header_size


def _value_problem(array: np.ndarray) -> str | None:
    """Why ``array`` cannot be a model's weights (real floats, all finite), or None."""
    if array.dtype.kind != "f" or array.dtype.itemsize > _MAX_ITEMSIZE:
        return (
            f"has dtype {array.dtype}; only real floating-point arrays "
            "(float16, float32, float64) go in a model file"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return f"holds NaN or infinity ({int(bad.sum()):,} values; the first at index {where})"
    return None
