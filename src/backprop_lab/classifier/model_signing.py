"""The model file's integrity: SHA-256 digests of its parts and their HMAC under a model key.

A plain SHA-256 digest catches accidents (a truncated copy, flipped bits, a hand edit
that forgot the digest), not a deliberate edit, since anyone can recompute it. An HMAC
needs the key, so with a model key set (:func:`model_key`), an edited file is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._util.validation import InputError

#: The ``format`` field of every model file's metadata, also signed by the HMAC.
FORMAT = "backprop-lab model"

#: The key for HMAC signatures: the key itself in KEY_ENV, or a file holding it in
#: KEY_FILE_ENV (surrounding whitespace ignored). Unset: plain digests only.
KEY_ENV = "BACKPROP_LAB_MODEL_KEY"
KEY_FILE_ENV = "BACKPROP_LAB_MODEL_KEY_FILE"
MIN_KEY_BYTES = 16
_MAX_KEY_FILE_BYTES = 4096


# ---- digests and signatures -----------------------------------------------------------
def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes (C order), in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(_canonical_json([name, a.dtype.str, list(a.shape)]))
        h.update(a.reshape(-1).view(np.uint8))  # the bytes of a.tobytes(), without a copy
    return h.hexdigest()


def metadata_digest(metadata: dict) -> str:
    """SHA-256 of the canonical JSON of the metadata without its ``integrity`` block."""
    body = {k: v for k, v in metadata.items() if k != "integrity"}
    return hashlib.sha256(_canonical_json(body)).hexdigest()


def model_key() -> bytes | None:
    """The model key from the environment, or None when none is set.

    ``BACKPROP_LAB_MODEL_KEY`` holds the key (its UTF-8 bytes are used), or
    ``BACKPROP_LAB_MODEL_KEY_FILE`` names a file holding it; at least
    :data:`MIN_KEY_BYTES` bytes, e.g. ``python -c "import secrets; print(secrets.token_hex(32))"``.
    """
    text, file = os.environ.get(KEY_ENV), os.environ.get(KEY_FILE_ENV)
    if text is not None and file is not None:
        raise InputError(f"set {KEY_ENV} or {KEY_FILE_ENV}, not both")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise InputError(f"no such model key file (named by {KEY_FILE_ENV})", file=path)
        if path.stat().st_size > _MAX_KEY_FILE_BYTES:
            raise InputError(
                f"a model key file holds one key; this one is over {_MAX_KEY_FILE_BYTES} bytes",
                file=path,
            )
        key, source = path.read_bytes().strip(), f"{KEY_FILE_ENV} ({path})"
    elif text is not None:
        key, source = text.strip().encode(), KEY_ENV
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"the model key in {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "random bytes"
        )
    return key


def signature(key: bytes, integrity: Mapping[str, object]) -> str:
    """HMAC-SHA256, under ``key``, of the arrays' and the metadata's SHA-256 digests.

    The digests cover every byte that is read, so the HMAC covers them too; unlike the
    digests, it cannot be recomputed without the key.
    """
    message = _canonical_json(
        [FORMAT, integrity.get("arrays_sha256"), integrity.get("metadata_sha256")]
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()
