"""The local cluster's workers: each pinned to its own core, with the training stack imported, and deaf to
the signals that stop the run (a :class:`~distributed.diagnostics.plugin.WorkerPlugin`, so a worker the
nanny restarts is set up the same way)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from distributed.diagnostics.plugin import WorkerPlugin

from .cluster import available_cores


class LocalWorker(WorkerPlugin):
    """What every local worker is set up with, and any worker the nanny restarts: :func:`_prepare_worker`,
    and deaf to SIGINT and SIGTERM.

    A terminal's Ctrl-C and a job scheduler's stop (``timeout``, Slurm) signal the whole process group;
    the run's own process stops first after the evaluation in progress, so that evaluation must go on
    training on its worker; the run then closes the cluster, whose nannies stop their workers (and kill
    one still busy after 4 s). A worker killed by the signal instead would be restarted and retrain.
    """

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, signal.SIG_IGN)
        _prepare_worker(worker)


def _prepare_worker(dask_worker) -> None:
    """Pin a LocalCluster worker (named 0, 1, ...) to its own core, then import the training stack.

    Linux affinity is per thread, and threads inherit it from the thread that
    creates them: every thread the worker has now (its event loop, its task
    thread) is pinned, so the XLA threads its task thread starts later are too.
    Importing Keras and JAX here makes the start-up visible as start-up, not
    as the first head's training time.
    """
    cores = available_cores()
    if isinstance(dask_worker.name, int) and len(cores) > 1 and os.path.isdir("/proc/self/task"):
        core = cores[dask_worker.name % len(cores)]
        for thread in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(thread), {core})
    from ..quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # Keras' fit (baselines) and saving import it; without its C++ start-up lines
    import jax  # noqa: F401  (the trainer)
    import keras  # noqa: F401
