"""Optional TensorBoard tracking of a run (``evoprune run --tensorboard DIR``).

Written with ``tf.summary``, the writer of the TensorFlow the package already
installs for its backbones (the ``tensorboard`` package, a requirement, is its
implementation and the viewer): per evaluation (step = evaluation number), the
fitness, the active % of the mask, the validation accuracy, and the best
fitness and its active % so far (multi-objective runs: the OOD AUROC, and the
hypervolume and size of the front so far). ``tensorboard --logdir DIR`` shows them.

Each evaluation is flushed as it is written, so a killed run keeps the steps it
finished; a resumed run replays its logged evaluations and writes only the
steps its log folder does not already hold, so every step is written once.
"""

from __future__ import annotations

import glob
import os

from ..quiet import import_tensorflow_quietly
from ..search.callbacks import Callback

STEP_TAG = "evaluation/fitness"
"""The scalar written at every step: its steps are the steps a log folder holds."""


class TensorBoardLogger(Callback):
    """GA callback writing each evaluation's scalars to a TensorBoard log folder ``logdir``."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.writer = None
        self.written: set = set()

    def on_start(self, state) -> None:
        import_tensorflow_quietly()
        import tensorflow as tf

        self.written = logged_steps(self.logdir)
        self.writer = tf.summary.create_file_writer(self.logdir)

    def on_evaluation(self, evaluation, state) -> None:
        import tensorflow as tf

        record = state.logbook[-1]
        step = evaluation.index + 1
        if step in self.written:  # a resumed run replaying an evaluation already logged
            return
        scalars = {
            "evaluation/fitness": evaluation.fitness,
            "evaluation/active_percent": 100.0 * evaluation.n_active / evaluation.mask.size,
        }
        if "hypervolume" in record:  # multi-objective: the front's progress
            scalars.update({"front/hypervolume": record["hypervolume"], "front/size": record["front_size"]})
        else:
            scalars.update(
                {
                    "best/fitness": record["best"],
                    "best/active_percent": 100.0 * record["best_active"] / evaluation.mask.size,
                }
            )
        for name in ("val_accuracy", "ood_auroc"):
            if evaluation.info.get(name) is not None:
                scalars[f"evaluation/{name}"] = evaluation.info[name]
        with self.writer.as_default():
            for name, value in scalars.items():
                tf.summary.scalar(name, float(value), step=step)
        self.writer.flush()
        self.written.add(step)

    def on_end(self, state) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def read_scalars(logdir: str) -> dict:
    """Every scalar in the event files under ``logdir``: ``{tag: [(step, value), ...]}`` in file order.

    Duplicate steps are kept (a reader that keys by step would hide them). A
    file cut short by a kill is read up to its last whole record.
    """
    import_tensorflow_quietly()
    import tensorflow as tf

    values: dict = {}
    for path in sorted(glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True)):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    values.setdefault(value.tag, []).append(
                        (event.step, float(tf.make_ndarray(value.tensor)))
                    )
        except tf.errors.DataLossError:  # the last record of a killed writer
            continue
    return values


def logged_steps(logdir: str) -> set:
    """The steps already written under ``logdir`` (empty for a new folder)."""
    if not os.path.isdir(logdir):
        return set()
    return {step for step, _ in read_scalars(logdir).get(STEP_TAG, [])}
