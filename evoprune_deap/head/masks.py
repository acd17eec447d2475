"""Which inputs and hidden units of a head are active: the head's view of a mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
