"""Progress bars on stderr: the GA's evaluations and feature extraction (off with ``-q``)."""

from __future__ import annotations

import sys

from ..search.callbacks import Callback

_BARS_OFF = None  # tqdm's `disable`: None = off when stderr is not a terminal; True with -q


def bars_off() -> None:
    """``-q``: no progress bar from now on, whether stderr is a terminal or not."""
    global _BARS_OFF
    _BARS_OFF = True


class ProgressBar(Callback):
    """GA callback drawing a tqdm bar: evaluations, best fitness and its active % (or hypervolume and
    front size), workers connected."""

    def __init__(self, client=None):
        self.client = client

    def on_start(self, state):
        from tqdm import tqdm

        self.bar = tqdm(
            total=state.max_evaluations, unit="eval", desc="evolve", file=sys.stderr, disable=_BARS_OFF
        )

    def on_evaluation(self, evaluation, state):
        record = state.logbook[-1]
        self.bar.update(1)
        workers = {} if self.client is None else {"workers": len(self.client.scheduler_info()["workers"])}
        if "hypervolume" in record:  # multi-objective
            shown = dict(hypervolume=f"{record['hypervolume']:.4f}", front=record["front_size"])
        else:
            shown = dict(
                best=f"{record['best']:.4f}",
                active=f"{100 * record['best_active'] / evaluation.mask.size:.1f}%",
            )
        self.bar.set_postfix(**shown, **workers)

    def on_end(self, state):
        self.bar.close()


def extraction_bar(config, total=None):
    """A tqdm bar for feature extraction, or None when the features are a file."""
    from tqdm import tqdm

    if config.data.features is not None:
        return None
    return tqdm(total=total, unit="img", desc="extract", file=sys.stderr, disable=_BARS_OFF)
