"""One TensorFlow worker process, for the jobs that need Keras on TensorFlow in a process that runs it on JAX.

Two jobs do: feature extraction (convolutions on a CPU are about 10x faster
on TensorFlow than on JAX) and LiteRT conversion (TensorFlow's converter).
:func:`tensorflow_worker` hands a job a one-process pool whose process runs
Keras on TensorFlow. Inside :func:`shared_tensorflow_worker` (every
``evoprune`` command, the test suite) the jobs of a process share one such
worker, started by the first and stopped at the end of the block, instead of
paying TensorFlow's start-up (about 5 s) each time; outside it each job starts
and stops its own. A job that raises inside :func:`tensorflow_worker`'s block
(an extraction that failed or was interrupted, a conversion whose worker died)
drops the shared worker, so the next one starts from a fresh process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import threading

BACKEND = "tensorflow"

_shared = None  # the worker shared_tensorflow_worker keeps, once a job has started it
_sharing = 0  # how many shared_tensorflow_worker blocks are open
_lock = threading.Lock()


def _init() -> None:
    """The worker's start: Keras on TensorFlow, and TensorFlow imported without its start-up lines."""
    from .quiet import import_tensorflow_quietly

    os.environ["KERAS_BACKEND"] = BACKEND
    import_tensorflow_quietly()


def _new() -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=_init
    )


@contextlib.contextmanager
def shared_tensorflow_worker():
    """TensorFlow jobs in this block share one worker process (started by the first, stopped at the end).

    Blocks nest; after a job that failed, the next starts a new worker.
    """
    global _shared, _sharing
    with _lock:
        _sharing += 1
    try:
        yield
    finally:
        with _lock:
            _sharing -= 1
            worker, _shared = (_shared, None) if _sharing == 0 else (None, _shared)
        if worker is not None:
            worker.shutdown(cancel_futures=True)


@contextlib.contextmanager
def tensorflow_worker():
    """The shared worker inside :func:`shared_tensorflow_worker`, else one for this job only."""
    global _shared
    if not _sharing:
        with _new() as worker:
            yield worker
        return
    with _lock:  # a campaign's runs may extract from several threads; each job names its own work
        if _shared is None:
            _shared = _new()
        worker = _shared
    try:
        yield worker
    except BaseException:  # a failed or interrupted job: the next one starts from a new worker
        with _lock:
            if _shared is worker:
                _shared = None
        worker.shutdown(wait=False, cancel_futures=True)
        raise
