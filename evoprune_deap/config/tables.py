"""The TOML tables of a config, one frozen, keyword-only dataclass each: ``[data]``, ``[head]``, ``[ga]``,
``[fitness]`` and ``[run]``. Each checks its own values when made; :mod:`.experiment` checks them together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigError
from .checks import check, check_objectives, is_int, is_number, names_a_path
from .limits import (
    BACKBONES,
    DEFAULT_FINAL_REPEATS,
    ENCODINGS,
    ENGINES,
    FITNESS_SEEDS,
    MAX_EPOCHS,
    MAX_EVALUATIONS,
    MAX_HIDDEN_UNITS,
    MAX_HOLDOUT_FRACTION,
    MAX_IMAGE_SIZE,
    MAX_POPULATION,
    MIN_IMAGE_SIZE,
    MUTATIONS,
    OOD_SCORES,
    PAPER_EVALUATIONS,
    PAPER_HIDDEN_UNITS,
    PATH_FIELDS,
    PROTOCOLS,
    SCHEDULER_ADDRESS,
)


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where the features come from: a cache file, or a dataset to extract."""

    features: str | None = None
    dataset: str | None = None  # None: the built-in default, elpv
    images: str | None = None
    test_images: str | None = None
    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    image_size: int = 128  # the paper preset uses 224
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    split_seed: int = 0
    name: str | None = (
        None  # the dataset's name in caches, run directories and tables (None: from the source)
    )
    train_subset: int | None = None  # a stratified subset of this many training images (None: all)
    holdout_fraction: float = 0.0  # share of train held out from every run, for the optimism audit
    ood_dataset: str | None = None  # out-of-distribution images for the ood objective: a built-in dataset,
    ood_images: str | None = None  # or an image folder (DIR/<class>/*.png),
    ood_features: str | None = None  # or a feature cache made with the same backbone and image size
    ood_max_images: int = 2000  # a stratified draw of at most this many OOD images is extracted

    def __post_init__(self):
        for name in PATH_FIELDS:  # stored absolute: a run resumes from any folder
            value = getattr(self, name)
            if names_a_path(name, value):
                object.__setattr__(self, name, os.path.abspath(os.path.expanduser(value)))
        self._check_sample()
        self._check_ood()
        self._check_images()

    def _check_sample(self) -> None:
        """The dataset's name, and which of its images train, validate, test or are held out."""
        check(
            self.name is None
            or (isinstance(self.name, str) and self.name.strip() != "" and "/" not in self.name),
            "name",
            self.name,
            "a non-empty name without '/'",
        )
        check(
            self.train_subset is None or (is_int(self.train_subset) and self.train_subset >= 2),
            "train_subset",
            self.train_subset,
            "an integer of at least 2 per class and below the number of "
            "training images (checked against the dataset), or absent for every training image",
        )
        check(
            is_number(self.holdout_fraction) and 0 <= self.holdout_fraction <= MAX_HOLDOUT_FRACTION,
            "holdout_fraction",
            self.holdout_fraction,
            f"a number in [0, {MAX_HOLDOUT_FRACTION}] (0: no hold-out; more would leave too few "
            "training images per class)",
        )
        check(
            is_int(self.split_seed) and 0 <= self.split_seed < 2**31,
            "split_seed",
            self.split_seed,
            "an integer in [0, 2**31)",
        )

    def _check_ood(self) -> None:
        """One source of out-of-distribution images at most, and how many of them to draw."""
        given = [
            name for name in ("ood_dataset", "ood_images", "ood_features") if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ConfigError(f"Give one source of out-of-distribution images, not {' and '.join(given)}.")
        check(
            is_int(self.ood_max_images) and self.ood_max_images >= 20,
            "ood_max_images",
            self.ood_max_images,
            "an integer >= 20",
        )

    def _check_images(self) -> None:
        """The backbone, its input size, and the validation and test shares."""
        check(self.backbone in BACKBONES, "backbone", self.backbone, f"one of {BACKBONES}")
        check(
            is_int(self.image_size) and MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE,
            "image_size",
            self.image_size,
            f"an integer in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]",
        )
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            check(is_number(value) and 0 < value < 1, name, value, "a number in (0, 1)")


@dataclass(frozen=True, kw_only=True)
class HeadConfig:
    """The dense head and how each mask's head is trained (the paper's settings)."""

    hidden_units: tuple | None = None  # None: PAPER_HIDDEN_UNITS of the encoding
    use_bias: bool = False
    learning_rate: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    batch_size: int = 32
    max_epochs: int = 600
    patience: int = 10
    min_delta: float = 1e-5
    engine: str = "auto"

    def __post_init__(self):
        units = self.hidden_units
        if units is not None:
            check(
                isinstance(units, (tuple, list))
                and 1 <= len(units) <= 2
                and all(is_int(u) and 1 <= u <= MAX_HIDDEN_UNITS for u in units),
                "hidden_units",
                units,
                f"1 or 2 integers in [1, {MAX_HIDDEN_UNITS}], e.g. [512, 512] (the paper's)",
            )
            object.__setattr__(self, "hidden_units", tuple(units))
        check(self.engine in ENGINES, "engine", self.engine, f"one of {ENGINES}")
        check(
            is_number(self.learning_rate) and self.learning_rate > 0,
            "learning_rate",
            self.learning_rate,
            "a number > 0",
        )
        check(
            is_number(self.momentum) and 0 <= self.momentum < 1,
            "momentum",
            self.momentum,
            "a number in [0, 1)",
        )
        check(
            is_int(self.batch_size) and self.batch_size >= 1,
            "batch_size",
            self.batch_size,
            "a positive integer",
        )
        check(
            is_int(self.max_epochs) and 1 <= self.max_epochs <= MAX_EPOCHS,
            "max_epochs",
            self.max_epochs,
            f"an integer in [1, {MAX_EPOCHS}] (the paper's: 600, with early stopping)",
        )
        check(is_int(self.patience) and self.patience >= 0, "patience", self.patience, "an integer >= 0")
        check(is_number(self.min_delta) and self.min_delta >= 0, "min_delta", self.min_delta, "a number >= 0")
        for name in ("use_bias", "nesterov"):
            check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")

    def widths(self, encoding: str) -> tuple:
        """The hidden widths: ``hidden_units``, or the paper's head for ``encoding``."""
        return self.hidden_units if self.hidden_units is not None else PAPER_HIDDEN_UNITS[encoding]


@dataclass(frozen=True, kw_only=True)
class GAConfig:
    """The steady-state GA (the authors' configuration by default)."""

    encoding: str = "fc1"
    population: int = 30
    evaluations: int | None = None  # None: PAPER_EVALUATIONS of the encoding (300 for both)
    mutation_prob: float = 0.07
    mutation: str = "one_bit"
    per_bit_prob: float = 0.001
    init_density: float | None = None
    candidates: int = 3
    max_stale_steps: int = 1000
    in_flight: int = 1  # pairs of children in flight; 1 is the paper's GA
    objectives: tuple | None = None  # e.g. ["accuracy", "active", "ood"]: NSGA-II; absent: the paper's GA
    ood_score: str = "msp"  # confidence score of the ood objective: msp or energy
    ood_temperature: float = 1000.0  # its temperature (MO-EvoPruneDeepTL: MSP with T = 1000)

    def __post_init__(self):
        self._check_budget()
        self._check_operators()
        object.__setattr__(self, "objectives", check_objectives(self.objectives))
        check(self.ood_score in OOD_SCORES, "ood_score", self.ood_score, f"one of {OOD_SCORES}")
        check(
            is_number(self.ood_temperature) and self.ood_temperature > 0,
            "ood_temperature",
            self.ood_temperature,
            "a number > 0",
        )

    def _check_budget(self) -> None:
        """The encoding and mutation's names, the population, and a budget of at least one population."""
        check(self.encoding in ENCODINGS, "encoding", self.encoding, f"one of {ENCODINGS}")
        check(self.mutation in MUTATIONS, "mutation", self.mutation, f"one of {MUTATIONS}")
        check(
            is_int(self.population) and 4 <= self.population <= MAX_POPULATION,
            "population",
            self.population,
            f"an integer in [4, {MAX_POPULATION}] (assortative mating draws 1 parent + 3 candidates; "
            "the paper's: 30)",
        )
        check(
            self.evaluations is None
            or (is_int(self.evaluations) and 1 <= self.evaluations <= MAX_EVALUATIONS),
            "evaluations",
            self.evaluations,
            f"an integer in [1, {MAX_EVALUATIONS}], or absent for the paper's budget",
        )
        check(
            self.budget >= self.population,
            "evaluations",
            self.budget,
            f"an integer >= population ({self.population}); the initial population counts",
        )

    def _check_operators(self) -> None:
        """Mutation, initial density, mating candidates, stopping and children in flight."""
        for name in ("mutation_prob", "per_bit_prob"):
            value = getattr(self, name)
            check(is_number(value) and 0 <= value <= 1, name, value, "a probability in [0, 1]")
        check(
            self.init_density is None or (is_number(self.init_density) and 0 <= self.init_density <= 1),
            "init_density",
            self.init_density,
            "a probability in [0, 1], or absent for p ~ U(0, 1)",
        )
        check(
            is_int(self.candidates) and 1 <= self.candidates < self.population,
            "candidates",
            self.candidates,
            "an integer in [1, population)",
        )
        check(
            is_int(self.max_stale_steps) and self.max_stale_steps >= 1,
            "max_stale_steps",
            self.max_stale_steps,
            "a positive integer",
        )
        check(
            is_int(self.in_flight) and 1 <= self.in_flight <= 1024,
            "in_flight",
            self.in_flight,
            "an integer in [1, 1024] (pairs of children in flight; 1 is the paper's GA)",
        )

    @property
    def budget(self) -> int:
        """New evaluations allowed: ``evaluations``, or the paper's for the encoding."""
        return self.evaluations if self.evaluations is not None else PAPER_EVALUATIONS[self.encoding]


@dataclass(frozen=True, kw_only=True)
class FitnessConfig:
    """What a mask's fitness measures (see :mod:`evoprune_deap.evaluation.fitness`)."""

    seeds: str = "per-mask"
    repeats: int = 1  # trainings per mask (derived seeds); the fitness is their mean
    folds: int = 1  # stratified k-fold cross-validation inside train + validation; 1 = the validation split
    reevaluate: int = 0  # after the search, the K best distinct masks are scored again from fresh seeds
    # Fresh scores of each re-evaluated mask (None: DEFAULT_FINAL_REPEATS where reevaluate > 0)
    final_repeats: int | None = None

    def __post_init__(self):
        check(self.seeds in FITNESS_SEEDS, "seeds", self.seeds, f"one of {FITNESS_SEEDS}")
        check(
            is_int(self.reevaluate) and 0 <= self.reevaluate <= 64,
            "reevaluate",
            self.reevaluate,
            "an integer in [0, 64] (the best distinct masks scored again after the search; 0: none)",
        )
        check(
            self.final_repeats is None or (is_int(self.final_repeats) and 1 <= self.final_repeats <= 64),
            "final_repeats",
            self.final_repeats,
            "an integer in [1, 64] (fresh scores of each re-evaluated mask)",
        )
        if self.final_repeats is not None and self.reevaluate == 0:
            raise ConfigError(
                f"final_repeats = {self.final_repeats} needs reevaluate = K >= 1 (the masks to score "
                "again): pass --reevaluate K too, or leave out --final-repeats."
            )
        check(
            is_int(self.repeats) and 1 <= self.repeats <= 64,
            "repeats",
            self.repeats,
            "an integer in [1, 64] (trainings per mask)",
        )
        check(
            is_int(self.folds) and (self.folds == 1 or 2 <= self.folds <= 20),
            "folds",
            self.folds,
            "1 (score on the validation split) or an integer in [2, 20] (k-fold cross-validation)",
        )

    @property
    def n_final_repeats(self) -> int:
        """Fresh scores of each re-evaluated mask: ``final_repeats``, or :data:`DEFAULT_FINAL_REPEATS`."""
        return self.final_repeats if self.final_repeats is not None else DEFAULT_FINAL_REPEATS


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Seed, selection protocol and output location of one run."""

    seed: int = 0
    protocol: str = "honest"
    out: str = "runs"
    # Local Dask workers training heads: 0 = one per CPU core (1 on a GPU), 1 = in this process; None (not
    # asked) = in this process from Python, as scikit-learn's n_jobs=None, and one per core from `evoprune`.
    workers: int | None = None
    scheduler: str | None = None  # address of a running Dask scheduler, instead of local workers

    def __post_init__(self):
        check(
            self.workers is None or (is_int(self.workers) and 0 <= self.workers <= 1024),
            "workers",
            self.workers,
            "an integer in [0, 1024] (0 = one per CPU core)",
        )
        check(
            self.scheduler is None
            or (isinstance(self.scheduler, str) and SCHEDULER_ADDRESS.match(self.scheduler)),
            "scheduler",
            self.scheduler,
            "the address of a Dask scheduler, PROTOCOL://HOST:PORT or HOST:PORT "
            "with PROTOCOL tcp or tls and a port in 1-65535, e.g. 'tls://10.0.0.5:8786'",
        )
        if self.scheduler is not None:
            port = int(self.scheduler.rsplit(":", 1)[1])
            check(
                1 <= port <= 65535,
                "scheduler",
                self.scheduler,
                "a port in 1-65535, e.g. 'tcp://127.0.0.1:8786'",
            )
        check(is_int(self.seed) and 0 <= self.seed < 2**31, "seed", self.seed, "an integer in [0, 2**31)")
        check(
            self.protocol in PROTOCOLS,
            "protocol",
            self.protocol,
            "'honest' (fitness on validation) or 'paper' (fitness on test, as the paper did)",
        )
