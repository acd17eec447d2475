"""Run configuration: frozen, keyword-only dataclasses, one per concern, and TOML.

A TOML file has up to four tables, ``[data]``, ``[head]``, ``[ga]`` and
``[run]``, mapping 1:1 to :class:`DataConfig`, :class:`HeadConfig`,
:class:`GAConfig` and :class:`RunConfig`. Unknown tables or keys, wrong types
and out-of-range values raise :class:`ConfigError` naming the value and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field

import tomllib

from .errors import ConfigError

ENCODINGS = ("fc1", "fc2", "both", "fs")
PROTOCOLS = ("honest", "paper")
MUTATIONS = ("one_bit", "per_bit")
ENGINES = ("auto", "single", "batched")
"""How many heads share one program of the trainer (:mod:`evoprune_deap.head.trainer`, pure JAX
whatever Keras' backend): ``single`` one, ``batched`` those of one padded shape, ``auto``
batched on a GPU and single on a CPU (measured faster there)."""
OBJECTIVES = ("accuracy", "active", "ood")
"""Objectives of the multi-objective GA (see :mod:`evoprune_deap.search.objectives`)."""
OOD_SCORES = ("msp", "energy")
"""Confidence scores for the ``ood`` objective: maximum softmax probability, or the energy score."""
BACKBONES = ("efficientnet_lite0", "resnet50", "densenet121", "vgg19")
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024
"""Largest image side: a batch of 64 such images already takes 0.8 GB as float32."""

MAX_HIDDEN_UNITS = 16384
"""Widest hidden layer (32 times the paper's 512): two such layers already take 4.6 GB to train; the run
also checks the head against this machine's memory once the features are known."""
MAX_POPULATION = 10000
MAX_EVALUATIONS = 10**6
MAX_EPOCHS = 100000
MAX_HOLDOUT_FRACTION = 0.5
"""Largest hold-out share of train: half of each class's training images still train."""

PAPER_HIDDEN_UNITS = {"fc1": (512, 512), "fc2": (512, 512), "both": (512, 512), "fs": (512,)}
"""The paper's head per encoding (its FS results use one hidden layer of 512):
the widths used when ``[head] hidden_units`` is not set."""
PAPER_EVALUATIONS = {"fc1": 200, "fc2": 200, "both": 300, "fs": 200}
"""The paper's budget per encoding: the value used when ``[ga] evaluations`` is not set."""


def _check(condition: bool, name: str, value, expected: str) -> None:
    if not condition:
        raise ConfigError(f"Invalid value for `{name}`: expected {expected}. Received: {name}={value!r}.")


def check_objectives(names) -> tuple | None:
    """A list of objective names (or ``"a,b"``) in canonical order; None (absent) is the single-objective GA.

    Raises
    ------
    ConfigError
        Unknown or repeated names, one objective only, no accuracy.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    names = list(names)
    if not names or len(set(names)) != len(names) or any(name not in OBJECTIVES for name in names):
        raise ConfigError(
            f"Invalid value for `objectives`: expected distinct names among {', '.join(OBJECTIVES)}, "
            f"e.g. accuracy,active. Received: objectives={','.join(map(str, names))!r}."
        )
    if len(names) == 1:
        raise ConfigError(
            f"objectives={names[0]!r} is one objective; a Pareto front needs two or more, e.g. "
            "accuracy,active (leave objectives out for the single-objective GA)."
        )
    if "accuracy" not in names:
        raise ConfigError(
            f"objectives={','.join(names)!r} leave out accuracy; a pruned head must be scored on "
            "its accuracy: use accuracy,active or accuracy,active,ood."
        )
    return tuple(name for name in OBJECTIVES if name in names)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


PATH_FIELDS = ("images", "test_images", "features", "weights", "ood_images", "ood_features")
"""The [data] keys that name files or folders."""


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
            if (
                isinstance(value, str)
                and value.strip()
                and not (name == "weights" and value in ("imagenet", "none"))
            ):
                object.__setattr__(self, name, os.path.abspath(os.path.expanduser(value)))
        _check(
            self.name is None
            or (isinstance(self.name, str) and self.name.strip() != "" and "/" not in self.name),
            "name",
            self.name,
            "a non-empty name without '/'",
        )
        _check(
            self.train_subset is None or (_is_int(self.train_subset) and self.train_subset >= 2),
            "train_subset",
            self.train_subset,
            "an integer of at least 2 per class and below the number of "
            "training images (checked against the dataset), or absent for every training image",
        )
        _check(
            _is_number(self.holdout_fraction) and 0 <= self.holdout_fraction <= MAX_HOLDOUT_FRACTION,
            "holdout_fraction",
            self.holdout_fraction,
            f"a number in [0, {MAX_HOLDOUT_FRACTION}] (0: no hold-out; more would leave too few "
            "training images per class)",
        )
        _check(
            _is_int(self.split_seed) and 0 <= self.split_seed < 2**31,
            "split_seed",
            self.split_seed,
            "an integer in [0, 2**31)",
        )
        given = [
            name for name in ("ood_dataset", "ood_images", "ood_features") if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ConfigError(f"Give one source of out-of-distribution images, not {' and '.join(given)}.")
        _check(
            _is_int(self.ood_max_images) and self.ood_max_images >= 20,
            "ood_max_images",
            self.ood_max_images,
            "an integer >= 20",
        )
        _check(self.backbone in BACKBONES, "backbone", self.backbone, f"one of {BACKBONES}")
        _check(
            _is_int(self.image_size) and MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE,
            "image_size",
            self.image_size,
            f"an integer in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]",
        )
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            _check(_is_number(value) and 0 < value < 1, name, value, "a number in (0, 1)")


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
            _check(
                isinstance(units, (tuple, list))
                and 1 <= len(units) <= 2
                and all(_is_int(u) and 1 <= u <= MAX_HIDDEN_UNITS for u in units),
                "hidden_units",
                units,
                f"1 or 2 integers in [1, {MAX_HIDDEN_UNITS}], e.g. [512, 512] (the paper's)",
            )
            object.__setattr__(self, "hidden_units", tuple(units))
        _check(self.engine in ENGINES, "engine", self.engine, f"one of {ENGINES}")
        _check(
            _is_number(self.learning_rate) and self.learning_rate > 0,
            "learning_rate",
            self.learning_rate,
            "a number > 0",
        )
        _check(
            _is_number(self.momentum) and 0 <= self.momentum < 1,
            "momentum",
            self.momentum,
            "a number in [0, 1)",
        )
        _check(
            _is_int(self.batch_size) and self.batch_size >= 1,
            "batch_size",
            self.batch_size,
            "a positive integer",
        )
        _check(
            _is_int(self.max_epochs) and 1 <= self.max_epochs <= MAX_EPOCHS,
            "max_epochs",
            self.max_epochs,
            f"an integer in [1, {MAX_EPOCHS}] (the paper's: 600, with early stopping)",
        )
        _check(_is_int(self.patience) and self.patience >= 0, "patience", self.patience, "an integer >= 0")
        _check(
            _is_number(self.min_delta) and self.min_delta >= 0, "min_delta", self.min_delta, "a number >= 0"
        )
        for name in ("use_bias", "nesterov"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")

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
        _check(self.encoding in ENCODINGS, "encoding", self.encoding, f"one of {ENCODINGS}")
        _check(self.mutation in MUTATIONS, "mutation", self.mutation, f"one of {MUTATIONS}")
        _check(
            _is_int(self.population) and 4 <= self.population <= MAX_POPULATION,
            "population",
            self.population,
            f"an integer in [4, {MAX_POPULATION}] (assortative mating draws 1 parent + 3 candidates; "
            "the paper's: 30)",
        )
        _check(
            self.evaluations is None
            or (_is_int(self.evaluations) and 1 <= self.evaluations <= MAX_EVALUATIONS),
            "evaluations",
            self.evaluations,
            f"an integer in [1, {MAX_EVALUATIONS}], or absent for the paper's budget",
        )
        _check(
            self.budget >= self.population,
            "evaluations",
            self.budget,
            f"an integer >= population ({self.population}); the initial population counts",
        )
        for name in ("mutation_prob", "per_bit_prob"):
            value = getattr(self, name)
            _check(_is_number(value) and 0 <= value <= 1, name, value, "a probability in [0, 1]")
        _check(
            self.init_density is None or (_is_number(self.init_density) and 0 <= self.init_density <= 1),
            "init_density",
            self.init_density,
            "a probability in [0, 1], or absent for p ~ U(0, 1)",
        )
        _check(
            _is_int(self.candidates) and 1 <= self.candidates < self.population,
            "candidates",
            self.candidates,
            "an integer in [1, population)",
        )
        _check(
            _is_int(self.max_stale_steps) and self.max_stale_steps >= 1,
            "max_stale_steps",
            self.max_stale_steps,
            "a positive integer",
        )
        _check(
            _is_int(self.in_flight) and 1 <= self.in_flight <= 1024,
            "in_flight",
            self.in_flight,
            "an integer in [1, 1024] (pairs of children in flight; 1 is the paper's GA)",
        )
        object.__setattr__(self, "objectives", check_objectives(self.objectives))
        _check(self.ood_score in OOD_SCORES, "ood_score", self.ood_score, f"one of {OOD_SCORES}")
        _check(
            _is_number(self.ood_temperature) and self.ood_temperature > 0,
            "ood_temperature",
            self.ood_temperature,
            "a number > 0",
        )

    @property
    def budget(self) -> int:
        """New evaluations allowed: ``evaluations``, or the paper's for the encoding."""
        return self.evaluations if self.evaluations is not None else PAPER_EVALUATIONS[self.encoding]


FITNESS_SEEDS = ("per-mask", "common")
"""How masks' heads are seeded: ``per-mask`` (from the run seed and the mask's bits) or ``common``
(one seed for every mask of a run, the authors' way: common random numbers)."""


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
        _check(self.seeds in FITNESS_SEEDS, "seeds", self.seeds, f"one of {FITNESS_SEEDS}")
        _check(
            _is_int(self.reevaluate) and 0 <= self.reevaluate <= 64,
            "reevaluate",
            self.reevaluate,
            "an integer in [0, 64] (the best distinct masks scored again after the search; 0: none)",
        )
        _check(
            self.final_repeats is None or (_is_int(self.final_repeats) and 1 <= self.final_repeats <= 64),
            "final_repeats",
            self.final_repeats,
            "an integer in [1, 64] (fresh scores of each re-evaluated mask)",
        )
        if self.final_repeats is not None and self.reevaluate == 0:
            raise ConfigError(
                f"final_repeats = {self.final_repeats} needs reevaluate = K >= 1 (the masks to score "
                "again): pass --reevaluate K too, or leave out --final-repeats."
            )
        _check(
            _is_int(self.repeats) and 1 <= self.repeats <= 64,
            "repeats",
            self.repeats,
            "an integer in [1, 64] (trainings per mask)",
        )
        _check(
            _is_int(self.folds) and (self.folds == 1 or 2 <= self.folds <= 20),
            "folds",
            self.folds,
            "1 (score on the validation split) or an integer in [2, 20] (k-fold cross-validation)",
        )

    @property
    def n_final_repeats(self) -> int:
        """Fresh scores of each re-evaluated mask: ``final_repeats``, or :data:`DEFAULT_FINAL_REPEATS`."""
        return self.final_repeats if self.final_repeats is not None else DEFAULT_FINAL_REPEATS


DEFAULT_FINAL_REPEATS = 3
"""Fresh scores per re-evaluated mask when ``[fitness] reevaluate`` is set alone."""


SCHEDULER_ADDRESS = re.compile(r"^((tcp|tls)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$")
"""A Dask scheduler's address: ``tcp://HOST:PORT``, ``tls://HOST:PORT`` or ``HOST:PORT``."""


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
        _check(
            self.workers is None or (_is_int(self.workers) and 0 <= self.workers <= 1024),
            "workers",
            self.workers,
            "an integer in [0, 1024] (0 = one per CPU core)",
        )
        _check(
            self.scheduler is None
            or (isinstance(self.scheduler, str) and SCHEDULER_ADDRESS.match(self.scheduler)),
            "scheduler",
            self.scheduler,
            "the address of a Dask scheduler, PROTOCOL://HOST:PORT or HOST:PORT "
            "with PROTOCOL tcp or tls and a port in 1-65535, e.g. 'tls://10.0.0.5:8786'",
        )
        if self.scheduler is not None:
            port = int(self.scheduler.rsplit(":", 1)[1])
            _check(
                1 <= port <= 65535,
                "scheduler",
                self.scheduler,
                "a port in 1-65535, e.g. 'tcp://127.0.0.1:8786'",
            )
        _check(_is_int(self.seed) and 0 <= self.seed < 2**31, "seed", self.seed, "an integer in [0, 2**31)")
        _check(
            self.protocol in PROTOCOLS,
            "protocol",
            self.protocol,
            "'honest' (fitness on validation) or 'paper' (fitness on test, as the paper did)",
        )


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Everything one run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    ga: GAConfig = field(default_factory=GAConfig)
    run: RunConfig = field(default_factory=RunConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)

    def __post_init__(self):
        check_encoding_depth(self.ga.encoding, self.hidden_units)
        if self.fitness.folds > 1 and self.run.protocol == "paper":
            raise ConfigError(
                f"[fitness] folds = {self.fitness.folds} cross-validates inside train + validation, "
                "but the paper protocol scores fitness on test; use protocol = 'honest' "
                "(--protocol honest) or folds = 1."
            )
        if self.fitness.reevaluate and self.ga.objectives:
            raise ConfigError(
                f"[fitness] reevaluate = {self.fitness.reevaluate} re-scores the single-objective GA's best "
                "masks; a multi-objective run keeps its whole front: leave out --reevaluate or --objectives."
            )
        data = self.data
        if (
            "ood" in (self.ga.objectives or ())
            and data.ood_dataset is None
            and data.ood_images is None
            and data.ood_features is None
        ):
            raise ConfigError(
                "The objective 'ood' needs out-of-distribution images: pass --ood-images DIR, "
                "--ood-dataset NAME or --ood-features FILE.npz ([data] ood_images ...)."
            )

    @property
    def hidden_units(self) -> tuple:
        """The head's hidden widths for this run's encoding."""
        return self.head.widths(self.ga.encoding)

    def to_dict(self) -> dict:
        return {name: _table(getattr(self, name)) for name in SECTIONS}

    def replace(self, **sections) -> "ExperimentConfig":
        """Return a copy with some keys changed: ``replace(ga={"population": 10})``."""
        return from_dict(_merge(self.to_dict(), sections))


def check_encoding_depth(encoding: str, hidden_units: tuple, error: type = ConfigError) -> None:
    """``fc2`` and ``both`` switch off units of a second hidden layer, so the head needs one."""
    if encoding in ("fc2", "both") and len(hidden_units) < 2:
        raise error(
            f"Encoding {encoding!r} needs two hidden layers; got hidden_units = "
            f"{list(hidden_units)}. Set [head] hidden_units = [512, 512]."
        )


SECTIONS = {
    "data": DataConfig,
    "head": HeadConfig,
    "ga": GAConfig,
    "run": RunConfig,
    "fitness": FitnessConfig,
}

# Presets: "quick" fits the default `evoprune run` in minutes on 2 CPU cores (no final re-evaluation:
# 5 masks x 3 fresh trainings would add 15 to its 40); "paper" is the authors' budget (PAPER_EVALUATIONS)
# and heads (PAPER_HIDDEN_UNITS), with the final re-evaluation of its 5 best masks (3 fresh trainings
# each, 15 beside 200 evaluations) against the winner's curse; summary.json keeps the search's own best too.
PRESETS = {
    "quick": {"ga": {"population": 10, "evaluations": 40}, "head": {"max_epochs": 60}},
    "paper": {
        "data": {"image_size": 224},
        "ga": {"population": 30},
        "head": {"max_epochs": 600},
        "fitness": {"seeds": "common", "reevaluate": 5},
    },
}


def _table(section) -> dict:
    values = dataclasses.asdict(section)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _merge(base: dict, override: dict) -> dict:
    merged = {name: dict(base.get(name, {})) for name in SECTIONS}
    for name, table in override.items():
        if name not in SECTIONS:
            raise ConfigError(f"Unknown config table [{name}]; valid tables: {', '.join(SECTIONS)}.")
        if not isinstance(table, dict):
            raise ConfigError(f"Config [{name}] must be a table of keys; got {table!r}.")
        merged[name].update(table)
    return merged


_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", tuple: "a list"}


def _check_types(name: str, cls, table: dict) -> None:
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"Unknown key `{key}` in [{name}]; valid keys: {', '.join(valid)}.")
        allowed = typing.get_args(hints[key]) or (hints[key],)
        if value is None and type(None) in allowed:
            continue
        ok = any(
            (t is float and _is_number(value))
            or (t is int and _is_int(value))
            or (t is tuple and isinstance(value, (list, tuple)))
            or (t in (str, bool) and isinstance(value, t))
            for t in allowed
        )
        if not ok:
            expected = " or ".join(_TYPES.get(t, "nothing") for t in allowed if t is not type(None))
            raise ConfigError(
                f"Invalid type for `{key}` in [{name}]: expected {expected}. Received: {key}={value!r}."
            )


def from_dict(tables: dict) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from ``{"data": {...}, "ga": {...}, ...}``."""
    merged = _merge({}, tables)
    sections = {}
    for name, cls in SECTIONS.items():
        _check_types(name, cls, merged[name])
        sections[name] = cls(**merged[name])
    return ExperimentConfig(**sections)


def load_config(
    path: str | None = None, preset: str | None = "quick", overrides: dict | None = None
) -> ExperimentConfig:
    """Resolve a config: preset defaults, then the TOML file, then ``overrides``.

    ``preset=None``: the dataclasses' defaults alone, for a run's own ``config.toml`` (which leaves out
    only the keys whose value is None, such as the paper preset's unset ``[ga] evaluations``).

    Raises
    ------
    ConfigError
        Unknown preset, unreadable or invalid TOML, unknown keys, bad values.
    """
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    tables, from_file = _merge({}, PRESETS[preset] if preset else {}), {}
    if path is not None:
        try:
            with open(path, "rb") as stream:
                from_file = tomllib.load(stream)
        except FileNotFoundError as exc:
            raise ConfigError(f"Config file {path!r} does not exist; pass an existing TOML file.") from exc
        except IsADirectoryError as exc:
            raise ConfigError(
                f"Config file {path!r} is a folder; pass a TOML file (e.g. --config run.toml)."
            ) from exc
        except PermissionError as exc:
            raise ConfigError(
                f"Config file {path!r} cannot be read (permission denied); fix its permissions."
            ) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {path!r} is not valid TOML: {exc}.") from exc
        _resolve_paths(from_file, os.path.dirname(os.path.abspath(path)))
    tables = _merge(_merge(tables, from_file), overrides or {})
    if tables["ga"].get("objectives") and "reevaluate" not in _merge(from_file, overrides or {})["fitness"]:
        tables["fitness"].pop("reevaluate", None)  # the preset's re-evaluation is single-objective
    return from_dict(tables)


def _resolve_paths(tables: dict, folder: str) -> None:
    """A TOML file's relative ``[data]`` paths name files beside it, from whatever folder it is used."""
    data = tables.get("data")
    for name in PATH_FIELDS if isinstance(data, dict) else ():
        value = data.get(name)
        if (
            isinstance(value, str)
            and value.strip()
            and not (name == "weights" and value in ("imagenet", "none"))
        ):
            data[name] = os.path.join(folder, os.path.expanduser(value))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_toml(config: ExperimentConfig) -> str:
    """Write a config as TOML; ``None`` values are left out (they are the defaults)."""
    lines = []
    for name, table in config.to_dict().items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items() if value is not None)
        lines.append("")
    return "\n".join(lines)
