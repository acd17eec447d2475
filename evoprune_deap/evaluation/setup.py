"""The run's fitness and where it trains, from its config: here, a local Dask cluster or a scheduler."""

from __future__ import annotations

import contextlib

from ..config import ExperimentConfig
from ..data.features import FeatureSet
from ..head.masks import Encoding
from .cluster import ClusterFitness, check_workers, default_workers, open_client
from .fitness import MaskFitness


def resolve_workers(workers: int | None) -> int:
    """0 means one worker per available core, or this process alone when JAX sees a GPU; None (not
    asked, the Python API's default) this process, as scikit-learn's ``n_jobs=None``: a script without
    an ``if __name__ == "__main__"`` guard, or a notebook, starts no worker processes.

    On a GPU one process trains many heads at once (the ``batched`` engine),
    and worker processes would each claim the device's memory.
    """
    if workers is None:
        return 1
    if workers > 0:
        return check_workers(workers)
    import jax

    return 1 if jax.default_backend() == "gpu" else default_workers()


def make_fitness(config: ExperimentConfig, feature_set: FeatureSet, client=None):
    """The run's fitness: a :class:`MaskFitness` here, or its :class:`ClusterFitness` form on ``client``."""
    encoding = Encoding(config.ga.encoding, feature_set.n_features, config.hidden_units)
    args = (feature_set, encoding, config.head, config.run.protocol, config.run.seed)
    options = dict(
        ood_score=config.ga.ood_score,
        ood_temperature=config.ga.ood_temperature,
        fitness_config=config.fitness,
        split_seed=config.data.split_seed,
    )
    return (
        MaskFitness(*args, **options)
        if client is None
        else ClusterFitness.for_masks(client, *args, **options)
    )


@contextlib.contextmanager
def cluster_for(config: ExperimentConfig, client=None):
    """The given client; else a new one (local cluster or ``[run] scheduler``); None to train here."""
    if client is not None:
        yield client
    elif config.run.scheduler is None and resolve_workers(config.run.workers) == 1:
        yield None
    else:
        with open_client(config.run.scheduler, resolve_workers(config.run.workers)) as opened:
            yield opened


def cluster_description(config: ExperimentConfig, client) -> dict:
    """How heads were trained, for environment.json (never changes the results)."""
    if client is None:
        return {"workers": 1, "scheduler": None}
    return {
        "workers": len(client.scheduler_info()["workers"]),
        "scheduler": config.run.scheduler,
        "in_flight": config.ga.in_flight,
    }
