"""One seed per run, passed down explicitly.

Nothing in evoprune-deap draws from the global ``numpy.random``. Functions take
a ``numpy.random.Generator`` (``rng``) or a ``seed``; seeds for sub-tasks (the
training of one mask, one split) are derived by hashing, so they do not depend
on the order in which work happens.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import ConfigError

SEED_BITS = 31


def check_seed(seed) -> int:
    """Return ``seed`` as an int in [0, 2**31), or raise ConfigError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}.")
    if not 0 <= int(seed) < 2**SEED_BITS:
        raise ConfigError(f"seed must be in [0, 2**{SEED_BITS}); got {seed!r}.")
    return int(seed)


def make_rng(seed: int) -> np.random.Generator:
    """Return the numpy Generator for ``seed``."""
    return np.random.default_rng(check_seed(seed))


def derive_seed(seed: int, *parts) -> int:
    """Derive a child seed from ``seed`` and any str/bytes/int parts.

    The result depends only on the arguments, never on call order, so a mask
    trained in any worker and at any time gets the same seed.
    """
    digest = hashlib.sha256(str(check_seed(seed)).encode())
    for part in parts:
        digest.update(b"\x00")
        digest.update(part if isinstance(part, bytes) else str(part).encode())
    return int.from_bytes(digest.digest()[:8], "little") % (2**SEED_BITS)
