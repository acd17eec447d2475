"""Run configuration: frozen, keyword-only dataclasses, one per concern, and TOML.

A TOML file has up to five tables, ``[data]``, ``[head]``, ``[ga]``, ``[run]`` and ``[fitness]``,
mapping 1:1 to :class:`DataConfig`, :class:`HeadConfig`, :class:`GAConfig`, :class:`RunConfig` and
:class:`FitnessConfig`. Unknown tables or keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the value and the fix.

The modules, lowest first: ``limits`` (the valid names, the limits, the paper's settings per encoding),
``checks`` (one value, a table's types, objectives, a head's depth), ``tables`` (the five dataclasses),
``experiment`` (:class:`ExperimentConfig`, :func:`from_dict`), ``presets`` and ``loading``
(:func:`load_config`, :func:`dump_toml`).
"""

from ..errors import ConfigError
from .checks import check_encoding_depth, check_objectives
from .experiment import SECTIONS, ExperimentConfig, from_dict
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
    OBJECTIVES,
    OOD_SCORES,
    PAPER_EVALUATIONS,
    PAPER_HIDDEN_UNITS,
    PATH_FIELDS,
    PROTOCOLS,
    SCHEDULER_ADDRESS,
)
from .loading import dump_toml, load_config
from .presets import PRESETS
from .tables import DataConfig, FitnessConfig, GAConfig, HeadConfig, RunConfig

__all__ = [
    "BACKBONES",
    "DEFAULT_FINAL_REPEATS",
    "ENCODINGS",
    "ENGINES",
    "FITNESS_SEEDS",
    "MAX_EPOCHS",
    "MAX_EVALUATIONS",
    "MAX_HIDDEN_UNITS",
    "MAX_HOLDOUT_FRACTION",
    "MAX_IMAGE_SIZE",
    "MAX_POPULATION",
    "MIN_IMAGE_SIZE",
    "MUTATIONS",
    "OBJECTIVES",
    "OOD_SCORES",
    "PAPER_EVALUATIONS",
    "PAPER_HIDDEN_UNITS",
    "PATH_FIELDS",
    "PRESETS",
    "PROTOCOLS",
    "SCHEDULER_ADDRESS",
    "SECTIONS",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "FitnessConfig",
    "GAConfig",
    "HeadConfig",
    "RunConfig",
    "check_encoding_depth",
    "check_objectives",
    "dump_toml",
    "from_dict",
    "load_config",
]
