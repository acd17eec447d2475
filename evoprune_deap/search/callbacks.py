"""Hooks into a GA run (pymoo / sklearn-genetic-opt style), and the fitness results they see."""

from __future__ import annotations


class Callback:
    """Base class of GA callbacks; every hook is optional.

    ``on_evaluation`` returning True stops the run after that evaluation
    (its stop reason is then ``"callback"``).
    """

    def on_start(self, state) -> None:
        """Called once, before the initial population is evaluated."""

    def on_evaluation(self, evaluation, state) -> bool | None:
        """Called after each new evaluation (``evaluation`` is an :class:`Evaluation`)."""
        return None

    def on_end(self, state) -> None:
        """Called once, when the run stops for any reason but an exception."""


def split_result(result) -> tuple[float, dict, object]:
    """A fitness result as ``(fitness, info, payload)``.

    A fitness callable may return a float, ``(float, dict)``, or ``(float,
    dict, payload)``: the payload (e.g. the trained weights) goes to the
    callbacks with the evaluation and is not kept in the history.
    """
    if not isinstance(result, tuple):
        return float(result), {}, None
    fitness, info, *payload = result
    return float(fitness), dict(info), payload[0] if payload else None
