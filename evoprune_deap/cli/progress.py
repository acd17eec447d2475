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
    """A tqdm bar for feature extraction on a terminal; in a log (stderr not a terminal) a line a minute
    (:class:`LineProgress`); None when the features are a file or with ``-q``."""
    from tqdm import tqdm

    if config.data.features is not None or _BARS_OFF:
        return None
    if not sys.stderr.isatty():
        return LineProgress()
    return tqdm(total=total, unit="img", desc="extract", file=sys.stderr)


class LineProgress:
    """Extraction progress for a log: one line when the first images are embedded, then at most one a
    minute (a long extraction, e.g. Fashion-MNIST's 70,000 images, is otherwise silent for hours)."""

    def __init__(self, every: float = 60.0, clock=None):
        import time

        self.every, self.clock = every, clock or time.monotonic
        self.started = self.clock()
        self.done, self.printed = 0, None

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if self.printed is None or now - self.printed >= self.every:
            self.printed = now
            rate = self.done / max(now - self.started, 1e-9)
            print(
                f"evoprune: extracting features: {self.done} images embedded ({rate:.0f}/s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        pass
