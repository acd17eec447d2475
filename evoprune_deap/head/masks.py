"""Which inputs and hidden units of a head are active (:class:`HeadMasks`), and the bit encodings that
say which bit switches off which unit (:class:`Encoding`).

One bit per unit, 1 = active:

- ``fc1``: the units of the first hidden layer;
- ``fc2``: the units of the second hidden layer;
- ``both``: FC1 bits then FC2 bits;
- ``fs``: one bit per input feature (feature selection).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ENCODINGS, check_encoding_depth
from ..errors import EncodingError


@dataclass(frozen=True)
class HeadMasks:
    """Active inputs and hidden units of a dense head.

    Attributes
    ----------
    inputs : ndarray of shape (n_features,), bool
    hidden : tuple of ndarray of shape (n_units,), bool
        One mask per hidden layer.
    """

    inputs: np.ndarray
    hidden: tuple

    @classmethod
    def full(cls, n_features: int, hidden_units: tuple) -> "HeadMasks":
        """Every input and unit active: the unpruned head."""
        return cls(np.ones(n_features, dtype=bool), tuple(np.ones(n, dtype=bool) for n in hidden_units))

    @property
    def layers(self) -> tuple:
        """The input mask, then one mask per hidden layer."""
        return (self.inputs, *self.hidden)

    @property
    def n_active(self) -> tuple:
        """Active inputs, then active units of each hidden layer."""
        return tuple(int(mask.sum()) for mask in self.layers)

    @property
    def n_total(self) -> tuple:
        """Inputs, then units of each hidden layer (the unpruned widths)."""
        return tuple(int(mask.shape[0]) for mask in self.layers)

    def is_empty(self) -> bool:
        """True when no signal can reach the output (a layer with no active unit)."""
        return min(self.n_active) == 0


@dataclass(frozen=True)
class Encoding:
    """Maps bit masks to :class:`~evoprune_deap.head.masks.HeadMasks` for a head of given widths.

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
        check_encoding_depth(self.name, self.hidden_units, EncodingError)

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
        """Check a bit mask and split it into input and hidden-layer masks."""
        mask = self.check_mask(mask)
        full = HeadMasks.full(self.n_features, self.hidden_units)
        inputs, hidden = full.inputs, list(full.hidden)
        if self.name == "fs":
            inputs = mask
        elif self.name == "fc1":
            hidden[0] = mask
        elif self.name == "fc2":
            hidden[1] = mask
        else:
            hidden[0], hidden[1] = mask[: self.hidden_units[0]], mask[self.hidden_units[0] :]
        return HeadMasks(inputs, tuple(hidden))

    def full_mask(self) -> np.ndarray:
        """The all-active mask (the unpruned head)."""
        return np.ones(self.n_bits, dtype=bool)
