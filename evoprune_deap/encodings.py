"""Bit encodings of a pruned head, and the DEAP individual that carries them.

One bit per unit, 1 = active:

- ``fc1``: the units of the first hidden layer;
- ``fc2``: the units of the second hidden layer;
- ``both``: FC1 bits then FC2 bits;
- ``fs``: one bit per input feature (feature selection).

The Fitness and Individual classes are plain classes defined once here (what
``deap.creator.create`` would generate), so they pickle under spawn
multiprocessing and never trigger "class already created" warnings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from deap import base

from .config import ENCODINGS
from .errors import EncodingError


class FitnessMax(base.Fitness):
    """Single-objective fitness to maximise (accuracy)."""

    weights = (1.0,)


class Individual(list):
    """A bit genome (list of 0/1 ints) with a DEAP fitness."""

    def __init__(self, bits=()):
        super().__init__(int(b) for b in bits)
        self.fitness = FitnessMax()

    @property
    def mask(self) -> np.ndarray:
        return np.asarray(self, dtype=bool)


@dataclass(frozen=True)
class HeadMasks:
    """Which inputs and hidden units of the head are active.

    Attributes
    ----------
    inputs : ndarray of shape (n_features,), bool
    hidden : tuple of ndarray of shape (n_units,), bool
        One mask per hidden layer.
    """

    inputs: np.ndarray
    hidden: tuple

    @property
    def n_active(self) -> tuple:
        return (int(self.inputs.sum()),) + tuple(int(m.sum()) for m in self.hidden)

    def is_empty(self) -> bool:
        """True when no signal can reach the output (a layer with no active unit)."""
        return min(self.n_active) == 0


@dataclass(frozen=True)
class Encoding:
    """Maps bit masks to :class:`HeadMasks` for a head of given widths.

    Parameters
    ----------
    name : {"fc1", "fc2", "both", "fs"}
    n_features : int
        Width of the input feature vector.
    hidden_units : tuple of int
        Widths of the hidden layers (1 or 2).
    """

    name: str
    n_features: int
    hidden_units: tuple

    def __post_init__(self):
        if self.name not in ENCODINGS:
            raise EncodingError(f"Unknown encoding {self.name!r}; choose one of {', '.join(ENCODINGS)}.")
        if self.name in ("fc2", "both") and len(self.hidden_units) < 2:
            raise EncodingError(f"Encoding {self.name!r} needs two hidden layers; got {self.hidden_units}.")

    @property
    def n_bits(self) -> int:
        h = self.hidden_units
        return {"fc1": h[0], "fc2": h[-1], "both": h[0] + h[-1], "fs": self.n_features}[self.name]

    def check_mask(self, mask) -> np.ndarray:
        """Return ``mask`` as a bool array of length ``n_bits``, or raise EncodingError."""
        mask = np.asarray(mask)
        if mask.ndim != 1 or mask.shape[0] != self.n_bits:
            raise EncodingError(
                f"Mask of shape {mask.shape} does not fit encoding {self.name!r}, which needs "
                f"{self.n_bits} bits for a head {self.n_features} -> {list(self.hidden_units)}."
            )
        if not np.isin(mask, (0, 1)).all():
            raise EncodingError(f"Mask for encoding {self.name!r} must hold only 0/1 values.")
        return mask.astype(bool)

    def head_masks(self, mask) -> HeadMasks:
        """Split a bit mask into input and hidden-layer masks."""
        mask = self.check_mask(mask)
        inputs = np.ones(self.n_features, dtype=bool)
        hidden = [np.ones(n, dtype=bool) for n in self.hidden_units]
        if self.name == "fs":
            inputs = mask
        elif self.name == "fc1":
            hidden[0] = mask
        elif self.name == "fc2":
            hidden[1] = mask
        else:
            hidden[0], hidden[1] = mask[: self.hidden_units[0]], mask[self.hidden_units[0]:]
        return HeadMasks(inputs, tuple(hidden))

    def full_mask(self) -> np.ndarray:
        """The all-active mask (the unpruned head)."""
        return np.ones(self.n_bits, dtype=bool)


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
    """Inverse of :func:`mask_to_hex`."""
    try:
        n_bits, packed = text.split(":")
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[: int(n_bits)]
    except ValueError as exc:
        raise EncodingError(f"Not a serialised mask: {text[:40]!r}.") from exc
    if bits.shape[0] != int(n_bits):
        raise EncodingError(f"Serialised mask {text[:40]!r} is shorter than its {n_bits} bits.")
    return bits.astype(bool)
