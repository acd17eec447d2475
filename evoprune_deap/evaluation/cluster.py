"""Training heads on Dask distributed: a LocalCluster on 127.0.0.1 by default, or any scheduler.

:func:`open_client` starts (or connects to) the cluster. :class:`ClusterFitness`
meets the :class:`~evoprune_deap.evaluation.fitness.Fitness` protocol, as
:class:`~evoprune_deap.evaluation.fitness.MaskFitness` does, but trains on the workers: the features are put
on the cluster once per run as the result of a task (so Dask can recompute them
for a worker that joins or restarts, which data placed with ``scatter`` would
not survive), and each worker builds the run's fitness once and keeps it.

Fitness is a pure function of (run seed, mask), so which worker trains which
mask, and in which order, never changes a run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import uuid
import warnings
from collections import OrderedDict
from concurrent.futures import CancelledError

from ..errors import ConfigError, EvopruneError
from ..head.trainer import heads_per_program
from ..search.evaluator import fitness_failure
from .fitness import MaskFitness, SingleMask, chunks

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
LOCAL_HOST = "127.0.0.1"
CONNECT_SECONDS = 5
"""How long connecting to a --scheduler may take before the run says it cannot."""
WORKER_BYTES = 0.6 * 2**30
"""Memory one local worker process takes once the training stack is imported (measured: about 0.6 GB)."""
FITNESS_CACHE_SIZE = 4
"""Runs whose compiled fitness a worker keeps at once (a campaign runs several)."""

LOCAL_WORKER_CONFIG = {
    # Each worker trains one head at a time on its own core: its statistical profiler (a stack sample
    # every 10 ms) and GIL monitor would take that core's time; the nanny's MALLOC_TRIM_THRESHOLD_
    # turns off glibc's adaptive mmap threshold, so every large buffer of a training step costs page
    # faults. benchmarks/cluster_speed.py measures the result against the former process pool.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}

_fitness_cache: OrderedDict = OrderedDict()  # per worker process: run token -> MaskFitness


def available_cores() -> list[int]:
    """CPU cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def default_workers() -> int:
    """One worker per available core."""
    return len(available_cores())


def check_workers(n_workers: int) -> int:
    """``n_workers`` local worker processes, if this machine's memory holds them; else a ConfigError."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not Linux: nothing to check against
        return n_workers
    most = max(1, int(0.8 * memory // WORKER_BYTES))
    if n_workers > most:
        raise ConfigError(
            f"--workers {n_workers} would start {n_workers} processes of about "
            f"{WORKER_BYTES / 2**30:.1f} GB each on a machine with {memory / 2**30:.0f} GB; use at "
            f"most {most} (0: one per core, {default_workers()} here)."
        )
    return n_workers


@contextlib.contextmanager
def open_client(scheduler: str | None = None, n_workers: int = 0):
    """A Dask client: connected to ``scheduler``, or to a new LocalCluster closed on exit.

    The LocalCluster listens on 127.0.0.1 only (a scheduler runs what clients
    send it), has ``n_workers`` process workers (0: one per core) of one
    thread each, each pinned to a core with single-threaded XLA.

    Raises
    ------
    EvopruneError
        The scheduler cannot be reached.
    """
    import dask
    from distributed import Client, LocalCluster

    from .local_workers import LocalWorker

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise EvopruneError(
                f"Cannot reach the Dask scheduler at {scheduler!r} within {CONNECT_SECONDS} s "
                f"({type(exc).__name__}: {exc}); start it with `dask scheduler`, check the address, "
                "or leave out --scheduler for a local cluster."
            ) from exc
        with client:
            yield client
        return
    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    try:
        with (
            dask.config.set(LOCAL_WORKER_CONFIG),
            LocalCluster(
                n_workers=n_workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                host=LOCAL_HOST,
                dashboard_address=f"{LOCAL_HOST}:0",
                silence_logs=logging.ERROR,
                env=_worker_environment(),
            ) as cluster,
            Client(cluster) as client,
        ):
            client.register_plugin(LocalWorker(), name="evoprune-local-worker")
            try:
                yield client
            finally:  # a worker still training when the run stops is killed after 4 s: expected, not news
                nanny.setLevel(logging.ERROR)
    finally:
        nanny.setLevel(level)


def _worker_environment() -> dict:
    """Local workers: single-threaded XLA (one core each), the Keras backend of this process, quiet TF."""
    return {
        "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA).strip(),
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _hold(value):
    return value


def _fitness_on_worker(token: str, factory, feature_set):
    if token not in _fitness_cache:
        _fitness_cache[token] = factory(feature_set)
        while len(_fitness_cache) > FITNESS_CACHE_SIZE:
            _fitness_cache.popitem(last=False)
    _fitness_cache.move_to_end(token)
    return _fitness_cache[token]


def _score_task(token: str, factory, feature_set, masks: list, with_test: bool) -> list:
    """The one task: the worker's fitness scores a batch of masks."""
    return _fitness_on_worker(token, factory, feature_set).score_many(masks, with_test)


def _rescore_task(token: str, factory, feature_set, mask, repeat: int) -> list:
    """One fresh score of the final re-evaluation on a worker (:meth:`MaskFitness.rescore_many`)."""
    fitness = _fitness_on_worker(token, factory, feature_set).reseeded(repeat)
    return fitness.score_many([mask], with_test=fitness.protocol == "paper")


class ClusterFitness(SingleMask):
    """A run's fitness, computed on a Dask cluster: :class:`~evoprune_deap.evaluation.fitness.Fitness`
    (``score_many``, ``evaluate_many``) over tasks that each score a batch on a worker.

    Parameters
    ----------
    client : distributed.Client
    feature_set : FeatureSet
        Sent to the cluster once, as the result of a task.
    factory : callable
        Picklable; ``factory(feature_set)`` builds the fitness on a worker (a
        MaskFitness, see :meth:`for_masks`); each worker builds it once per run.
    encoding : Encoding or None
    protocol : {"honest", "paper"}
    heads_per_task : int
        Most masks in one task (1: each mask is a task, journaled as it finishes).
    """

    def __init__(
        self, client, feature_set, factory, encoding=None, protocol: str = "honest", heads_per_task: int = 1
    ):
        self.client, self.feature_set, self.factory, self.encoding = client, feature_set, factory, encoding
        self.protocol, self.heads_per_task = protocol, heads_per_task
        self._token, self._local = uuid.uuid4().hex, None
        with warnings.catch_warnings():  # the features are large on purpose: sent once, kept as a task result
            warnings.simplefilter("ignore", UserWarning)
            self._features = client.submit(_hold, feature_set, pure=False, key=f"features-{self._token}")
        # A copy on every worker, so Dask places each head on any free worker rather than beside the
        # one copy; a worker that joins later fetches it from a peer, and if every copy is lost Dask
        # recomputes it from its task.
        client.replicate([self._features])

    @classmethod
    def for_masks(
        cls, client, feature_set, encoding, head_config, protocol: str, seed: int, **options
    ) -> "ClusterFitness":
        """The cluster form of
        ``MaskFitness(feature_set, encoding, head_config, protocol, seed, **options)``."""
        factory = functools.partial(
            MaskFitness, encoding=encoding, head_config=head_config, protocol=protocol, seed=seed, **options
        )
        return cls(client, feature_set, factory, encoding, protocol, heads_per_program(head_config.engine))

    def _submit(self, masks: list, with_test: bool) -> tuple[list, list]:
        """Split ``masks`` into tasks (``heads_per_task`` at most, one per worker at least) and start them."""
        n_workers = max(1, len(self.client.scheduler_info()["workers"]))
        groups = chunks(masks, min(self.heads_per_task, -(-len(masks) // n_workers)))
        futures = [
            self.client.submit(
                _score_task, self._token, self.factory, self._features, group, with_test, pure=False
            )
            for group in groups
        ]
        return groups, futures

    def evaluate_many(self, masks: list, on_result=None):
        """Start every mask now; return a generator of their results in order.

        ``on_result(mask, result)``, if given, is called (in a helper thread)
        as each task finishes, in whatever order: the journal of finished
        work. Closing the generator early cancels the tasks not yet collected.
        """
        groups, futures = self._submit(masks, with_test=self.protocol == "paper")
        if on_result is not None:
            for group, future in zip(groups, futures):
                future.add_done_callback(functools.partial(_journal, on_result, self.protocol, group))
        return self._in_order(groups, futures, on_result)

    def _in_order(self, groups, futures, on_result=None):
        try:
            for group, future in zip(groups, futures):
                try:
                    scores = _result(group[0], future)
                except EvopruneError:
                    if on_result is not None and future.status == "error":  # journaled before the run stops
                        for mask in group:
                            on_result(mask, future.exception())
                    raise
                for score in scores:
                    yield score.result(self.protocol)
        finally:
            self.client.cancel([future for future in futures if not future.done()])

    def rescore_many(self, masks: list, repeats: int):
        """Start every fresh training now (one task each); return a generator of each mask's scores in order.

        Closing the generator early cancels the tasks not yet collected.
        """
        futures = [
            [
                self.client.submit(
                    _rescore_task, self._token, self.factory, self._features, mask, r, pure=False
                )
                for r in range(repeats)
            ]
            for mask in masks
        ]
        return self._rescored(masks, futures)

    def _rescored(self, masks, futures):
        try:
            for mask, tasks in zip(masks, futures):
                yield [score for future in tasks for score in _result(mask, future)]
        finally:
            self.client.cancel([future for tasks in futures for future in tasks if not future.done()])

    def local(self):
        """The worker's fitness, built here (see :meth:`Fitness.local`)."""
        if self._local is None:
            self._local = self.factory(self.feature_set)
        return self._local

    def score_many(self, masks: list, with_test: bool = False) -> list:
        """The fitness's ``score_many`` of the masks, spread over the workers, in order."""
        groups, futures = self._submit(masks, with_test)
        return [score for group, future in zip(groups, futures) for score in _result(group[0], future)]


def _journal(on_result, protocol: str, group: list, done) -> None:
    """Journal a finished task's results (a helper thread of the client calls it as each task finishes)."""
    if done.status != "finished":
        return
    try:
        scores = done.result()
    except (OSError, CancelledError):  # the run stopped and its client is closing: the result never arrived
        return
    for mask, score in zip(group, scores):
        on_result(mask, score.result(protocol))


def _result(mask, future):
    try:
        return future.result()
    except EvopruneError:
        raise
    except Exception as exc:  # the fitness raised on the worker, or the worker kept dying
        raise fitness_failure(mask, exc) from exc
