"""Evaluate masks in worker processes, one per CPU core.

Each worker is a spawned process pinned to one core, with XLA limited to one
thread, that holds its own :class:`MaskFitness` (and so its own compiled
heads). On this 2-core machine two such workers train about 1.4-2.2x more
heads per second than one process using both cores (benchmarks/fitness_speed.py).
Fitness stays a pure function of (run seed, mask), so results do not depend on
which worker trains which mask.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

from ..errors import EvopruneError

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

_fitness = None


def available_cores() -> list[int]:
    """CPU cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def pin_to_one_core(core: int | None) -> None:
    """Restrict this process (and XLA) to one core; call before importing jax."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA).strip()
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _init_worker(cores, fitness_factory, factory_args) -> None:
    global _fitness
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    pin_to_one_core(cores.get())
    _fitness = fitness_factory(*factory_args)


def _evaluate(mask):
    return _fitness(mask)


class WorkerPool:
    """``map(masks)`` over spawned, core-pinned workers.

    Parameters
    ----------
    fitness_factory : callable
        Picklable; ``fitness_factory(*factory_args)`` builds the fitness
        callable inside each worker.
    factory_args : tuple
    n_workers : int
    """

    def __init__(self, fitness_factory, factory_args: tuple, n_workers: int):
        context = multiprocessing.get_context("spawn")
        cores = context.Queue()
        available = available_cores()
        for i in range(n_workers):
            cores.put(available[i % len(available)] if len(available) >= n_workers else None)
        self.n_workers = n_workers
        self._pool = concurrent.futures.ProcessPoolExecutor(
            n_workers, mp_context=context, initializer=_init_worker,
            initargs=(cores, fitness_factory, factory_args))

    def map(self, masks: list, on_result=None):
        """Results of the fitness for each mask, in order, yielded as they arrive.

        All masks are queued at once, so a free worker takes the next one.
        ``on_result(mask, result)``, if given, is called (in a helper thread)
        as each result arrives, in whatever order the workers finish.
        """
        futures = [self._pool.submit(_evaluate, mask) for mask in masks]
        if on_result is not None:
            for mask, future in zip(masks, futures):
                future.add_done_callback(
                    lambda done, mask=mask: done.cancelled() or done.exception() or on_result(mask, done.result()))
        return self._in_order(futures)

    @staticmethod
    def _in_order(futures):
        try:
            for future in futures:
                yield future.result()
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise EvopruneError(f"A fitness worker process died ({exc}); rerun with workers = 1 "
                                "to see the error in this process.") from exc

    def close(self) -> None:
        """Cancel queued masks and wait for the ones being trained."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Kill the workers now (a second Ctrl-C, an error): what they were training is lost."""
        # ProcessPoolExecutor has no public way to stop running work before Python 3.14.
        processes = getattr(self._pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
