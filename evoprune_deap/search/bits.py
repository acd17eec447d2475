"""Bit masks as memo keys, short hashes and lossless text (numpy only)."""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import EncodingError


def mask_key(mask) -> bytes:
    """Exact, compact key of a bit mask (for memoisation)."""
    mask = np.asarray(mask, dtype=bool)
    return mask.shape[0].to_bytes(4, "little") + np.packbits(mask).tobytes()


def mask_hash(mask) -> str:
    """Short hex digest of a bit mask, for tables and file names."""
    return hashlib.sha256(mask_key(mask)).hexdigest()[:16]


def mask_to_hex(mask) -> str:
    """Serialise a mask losslessly as ``<n_bits>:<packed hex>``."""
    mask = np.asarray(mask, dtype=bool)
    return f"{mask.shape[0]}:{np.packbits(mask).tobytes().hex()}"


def mask_from_hex(text: str) -> np.ndarray:
    """Inverse of :func:`mask_to_hex`.

    Raises
    ------
    EncodingError
        ``text`` is not a serialised mask.
    """
    try:
        n_bits, packed = text.split(":")
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[: int(n_bits)]
    except ValueError as exc:
        raise EncodingError(f"Not a serialised mask: {text[:40]!r}.") from exc
    if bits.shape[0] != int(n_bits):
        raise EncodingError(f"Serialised mask {text[:40]!r} is shorter than its {n_bits} bits.")
    return bits.astype(bool)
