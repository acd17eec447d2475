"""Optional TensorBoard tracking of a run (``evoprune run --tensorboard DIR``).

Written with ``tf.summary``, the writer of the TensorFlow the package already
installs for its backbones (the ``tensorboard`` package, a requirement, is its
implementation and the viewer): per evaluation (step = evaluation number), the
fitness, the active % of the mask, the validation accuracy, and the best
fitness and its active % so far (multi-objective runs: the OOD AUROC, and the
hypervolume and size of the front so far). ``tensorboard --logdir DIR`` shows them.
"""

from __future__ import annotations

from ..quiet import import_tensorflow_quietly
from ..search.callbacks import Callback


class TensorBoardLogger(Callback):
    """GA callback writing each evaluation's scalars to a TensorBoard log folder ``logdir``."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.writer = None

    def on_start(self, state) -> None:
        import_tensorflow_quietly()
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(self.logdir)

    def on_evaluation(self, evaluation, state) -> None:
        import tensorflow as tf

        record = state.logbook[-1]
        step = evaluation.index + 1
        scalars = {
            "evaluation/fitness": evaluation.fitness,
            "evaluation/active_percent": 100.0 * evaluation.n_active / evaluation.mask.size,
        }
        if "hypervolume" in record:  # multi-objective: the front's progress
            scalars.update({"front/hypervolume": record["hypervolume"], "front/size": record["front_size"]})
        else:
            scalars.update({"best/fitness": record["best"],
                            "best/active_percent": 100.0 * record["best_active"] / evaluation.mask.size})
        for name in ("val_accuracy", "ood_auroc"):
            if evaluation.info.get(name) is not None:
                scalars[f"evaluation/{name}"] = evaluation.info[name]
        with self.writer.as_default():
            for name, value in scalars.items():
                tf.summary.scalar(name, float(value), step=step)

    def on_end(self, state) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
