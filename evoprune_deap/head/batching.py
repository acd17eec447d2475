"""How much one compiled program trains: its epochs per call, how many heads, and how a group of heads
is split to fit the device's memory.

The trainer (:mod:`evoprune_deap.head.trainer`) trains one head per program
on a CPU and heads of one padded shape together on a GPU; these are its rules
for the size of a batch.
"""

from __future__ import annotations

import numpy as np

from ..config import ENGINES
from ..errors import ConfigError

SEGMENT_EPOCHS = 50
"""Epochs per call of the compiled program (a few seconds of work; Ctrl-C is seen between calls)."""
MAX_HEADS = 256
"""Most heads in one batched program."""
CPU_MEMORY_BYTES = 4 * 2**30
"""Memory a batch may use where the device does not report its own (the CPU)."""
DEVICE_MEMORY_FRACTION = 0.5
"""Share of a GPU's free memory a batch may use."""


def heads_per_program(engine: str) -> int:
    """How many heads train in one program: 1 (``single``; ``auto`` on a CPU) or up to :data:`MAX_HEADS`."""
    if engine not in ENGINES:
        raise ConfigError(
            f"Invalid value for `engine`: expected one of {ENGINES}. Received: engine={engine!r}."
        )
    if engine == "auto":
        import jax

        engine = "batched" if jax.default_backend() == "gpu" else "single"
    return MAX_HEADS if engine == "batched" else 1


def head_bytes(dims: tuple, n_samples: int, batch_size: int) -> int:
    """Device memory one head of widths ``dims`` takes in a batch (an estimate, float32).

    Weights, best weights, momentum and gradients (4 copies of the
    parameters), one segment's epoch orders and one batch's activations.
    """
    parameters = sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))
    return 4 * (4 * parameters + SEGMENT_EPOCHS * n_samples + 4 * batch_size * sum(dims))


def memory_budget() -> int:
    """Bytes a batch may use: a share of the device's free memory, or :data:`CPU_MEMORY_BYTES`."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(DEVICE_MEMORY_FRACTION * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    return CPU_MEMORY_BYTES


def split_batches(n_heads: int, per_head: int, budget: int, max_heads: int = MAX_HEADS) -> list[range]:
    """Consecutive ranges of heads, each within ``budget`` bytes and ``max_heads``, sizes as equal as
    can be."""
    size = max(1, min(max_heads, budget // max(per_head, 1)))
    n_batches = -(-n_heads // size)
    bounds = np.linspace(0, n_heads, n_batches + 1).round().astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
