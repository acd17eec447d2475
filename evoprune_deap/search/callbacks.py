"""Hooks into a GA run (pymoo / sklearn-genetic-opt style)."""

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
