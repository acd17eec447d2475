"""Progress bars on stderr: the GA's evaluations and feature extraction (off with ``-q``)."""

from __future__ import annotations

import sys

from ..search.callbacks import Callback

_BARS_OFF = None  # tqdm's `disable`: True with -q; None: a bar on a terminal, lines in a log


def bars_off(off: bool = True) -> None:
    """``-q``: no progress bar, whether stderr is a terminal or not (``main`` sets it on every call)."""
    global _BARS_OFF
    _BARS_OFF = True if off else None


def progress(desc: str, unit: str, total=None, rate: bool = False):
    """A tqdm bar on a terminal; in a log (stderr a file or a pipe) a :class:`LineProgress`; with ``-q``
    a bar that shows nothing."""
    from tqdm import tqdm

    if _BARS_OFF is None and not getattr(sys.stderr, "isatty", lambda: False)():
        return LineProgress(desc, unit, total=total, rate=rate)
    return tqdm(total=total, unit=unit.split()[0], desc=desc, file=sys.stderr, disable=_BARS_OFF)


class ProgressBar(Callback):
    """GA callback showing progress: evaluations, best fitness and its active % (or hypervolume and front
    size), workers connected; a tqdm bar on a terminal, a line a minute in a log (:class:`LineProgress`)."""

    def __init__(self, client=None):
        self.client = client

    def on_start(self, state):
        self.bar = progress("evolve", "evaluations", total=state.max_evaluations)

    def on_evaluation(self, evaluation, state):
        record = state.logbook[-1]
        workers = {} if self.client is None else {"workers": len(self.client.scheduler_info()["workers"])}
        if "hypervolume" in record:  # multi-objective
            shown = dict(hypervolume=f"{record['hypervolume']:.4f}", front=record["front_size"])
        else:
            shown = dict(
                best=f"{record['best']:.4f}",
                active=f"{100 * record['best_active'] / evaluation.mask.size:.1f}%",
            )
        self.bar.set_postfix(**shown, **workers)
        self.bar.update(1)

    def on_end(self, state):
        self.bar.close()


def extraction_bar(config, total=None):
    """Feature extraction's :func:`progress`; None when the features are a file or with ``-q``."""
    if config.data.features is not None or _BARS_OFF:
        return None
    return progress("extracting features", "images embedded", total=total, rate=True)


class LineProgress:
    """Progress for a log, where a bar would be one endless line: a line when the first item is done, then
    at most one a minute, and the last on close (a paper-budget run or Fashion-MNIST's extraction is
    otherwise silent for an hour). The part of tqdm's interface the bars use: ``update``, ``set_postfix``,
    ``close``."""

    def __init__(self, desc: str, unit: str, total=None, rate=False, every: float = 60.0, clock=None):
        import time

        self.desc, self.unit, self.total, self.rate = desc, unit, total, rate
        self.every, self.clock = every, clock or time.monotonic
        self.started = self.clock()
        self.done, self.printed, self.printed_done, self.postfix = 0, None, 0, {}

    def set_postfix(self, **fields) -> None:
        self.postfix = fields

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if self.printed is None or now - self.printed >= self.every:
            self._print(now)

    def _print(self, now: float) -> None:
        self.printed, self.printed_done = now, self.done
        print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float) -> str:
        done = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        rate = f" ({self.done / max(now - self.started, 1e-9):.0f}/s)" if self.rate else ""
        fields = "".join(f", {key} {value}" for key, value in self.postfix.items())
        return f"evoprune: {self.desc}: {done} {self.unit}{rate}{fields}"

    def close(self) -> None:
        """The last line, where the log's last one is behind (up to a minute old)."""
        if self.printed is not None and self.done != self.printed_done:
            self._print(self.clock())
