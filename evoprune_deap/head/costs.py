"""Size and cost of a physically pruned head."""

from __future__ import annotations

from .masks import HeadMasks


def _dims(masks: HeadMasks, n_classes: int) -> list[int]:
    return [*masks.n_active, n_classes]


def count_parameters(masks: HeadMasks, n_classes: int, use_bias: bool) -> int:
    """Trainable parameters: every kernel, hidden biases with ``use_bias``, the output bias."""
    dims = _dims(masks, n_classes)
    weights = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    biases = (sum(dims[1:-1]) if use_bias else 0) + n_classes
    return weights + biases


def count_flops(masks: HeadMasks, n_classes: int) -> int:
    """Multiply-add FLOPs (2 per weight) of one forward pass of one sample."""
    dims = _dims(masks, n_classes)
    return 2 * sum(a * b for a, b in zip(dims[:-1], dims[1:]))
