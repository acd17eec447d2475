"""scikit-learn estimators over feature arrays: :class:`EvoPruneClassifier` and
:class:`EvoPruneFeatureSelector`.

Both take features already extracted (rows = samples), carve a stratified
validation split from the training data given to ``fit``, run EvoPruneDeepTL
(honest protocol: fitness = validation accuracy) with the run seed
``random_state``, and keep the best head. They work in ``Pipeline``,
``cross_val_score`` and ``GridSearchCV`` like any scikit-learn estimator.
"""

from __future__ import annotations

import tempfile

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_selection import SelectorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .config import from_dict
from .data.features import FeatureSet
from .data.splits import Split, stratified_carve
from .seeding import make_rng


def _store_params(estimator, arguments: dict) -> None:
    """Keep every ``__init__`` argument as is, under its own name (scikit-learn's convention)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class EvoPruneClassifier(ClassifierMixin, BaseEstimator):
    """EvoPruneDeepTL as a scikit-learn classifier: a pruned dense head evolved on features.

    Parameters
    ----------
    encoding : {"fc1", "fc2", "both", "fs"}
        What the masks switch off: units of the first / second / both hidden
        layers, or input features.
    population, evaluations : int
        GA population and budget of evaluations (the paper: 30 and 200).
    max_epochs : int
        Epochs per head at most (the paper: 600).
    hidden_units : tuple of int or None
        Hidden widths; None is the paper's head for the encoding.
    validation_fraction : float in (0, 1)
        Share of each class carved from the data given to ``fit``; the GA's
        fitness is accuracy on it.
    in_flight : int
        Pairs of children in flight (1: the paper's GA).
    engine : {"auto", "single", "batched"}
        Heads per training program (auto: one on a CPU, batched on a GPU).
    fitness_seeds : {"per-mask", "common"}
        Each mask's training seed from its bits, or one seed for every mask
        (common random numbers, the authors' way).
    repeats : int
        Trainings per mask (derived seeds); the fitness is their mean.
    cv_folds : int
        1: fitness on the validation carve; k >= 2: stratified k-fold
        cross-validation inside all of (X, y), the head then refit on it.
    reevaluate : int
        After the search, the K best distinct masks are trained again from
        fresh seeds and the best mean fresh fitness is kept (0: the search's best).
    final_repeats : int or None
        Fresh trainings of each re-evaluated mask (None: 3 where ``reevaluate``).
    random_state : int, RandomState or None
        The run seed (GA, head training and the validation carve); None draws one.
    run_dir : str or None
        Keep the run directory there (evaluations, logbook, best head); None
        uses a temporary one, removed after ``fit``.

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_ : int
    mask_ : ndarray of bool
        The best mask (over the encoding's units or, for ``fs``, the features).
    n_active_ : int
    head_ : keras.Model
        The best head, taking the full feature vector.
    logbook_ : deap.tools.Logbook
    best_fitness_ : float
        Validation accuracy of the best mask (as the search scored it).
    reevaluated_fitness_ : float or None
        Its mean validation accuracy over fresh trainings (with ``reevaluate``).
    seed_ : int
        The run seed used.
    """

    def __init__(
        self,
        encoding="fc1",
        population=10,
        evaluations=40,
        max_epochs=60,
        hidden_units=None,
        validation_fraction=0.15,
        in_flight=1,
        engine="auto",
        fitness_seeds="per-mask",
        repeats=1,
        cv_folds=1,
        reevaluate=0,
        final_repeats=None,
        random_state=None,
        run_dir=None,
    ):
        _store_params(self, locals())

    def fit(self, X, y):
        """Evolve a pruned head on (X, y); returns self."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        labels = LabelEncoder().fit(y)
        self.classes_ = labels.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; got one class "
                f"{self.classes_[0]!r}. Give samples of every class."
            )
        self.seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        config = from_dict(
            {
                "ga": {
                    "encoding": self.encoding,
                    "population": self.population,
                    "evaluations": self.evaluations,
                    "in_flight": self.in_flight,
                },
                "head": {
                    "max_epochs": self.max_epochs,
                    "engine": self.engine,
                    **({} if self.hidden_units is None else {"hidden_units": list(self.hidden_units)}),
                },
                "run": {"seed": self.seed_, "workers": 1},
                "fitness": {
                    "seeds": self.fitness_seeds,
                    "repeats": self.repeats,
                    "folds": self.cv_folds,
                    "reevaluate": self.reevaluate,
                    "final_repeats": self.final_repeats,
                },
            }
        )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1); got {self.validation_fraction!r}.")
        result = self._evolve(config, self._feature_set(X, labels.transform(y).astype(np.int64)))
        self.mask_ = np.asarray(result.best_mask, dtype=bool)
        self.n_active_ = int(self.mask_.sum())
        self.head_ = result.model
        self.logbook_ = result.state.logbook
        self.best_fitness_ = float(result.summary.fitness)
        self.reevaluated_fitness_ = result.summary.reevaluated_fitness
        return self

    def _evolve(self, config, features: FeatureSet):
        """The run; a Ctrl-C or SIGTERM ends it as a :class:`KeyboardInterrupt`, which scikit-learn's
        ``cross_val_score`` and ``GridSearchCV`` do not catch as a failed fit (a ``RunInterrupted`` is an
        ``Exception``, and its resume command names a run directory a fit never resumes)."""
        from .errors import RunInterrupted
        from .run.experiment import run_experiment

        try:
            with tempfile.TemporaryDirectory(prefix="evoprune-") as scratch:
                run_dir = self.run_dir or f"{scratch}/run"
                return run_experiment(config, features, run_dir=run_dir, artifacts=self.run_dir is not None)
        # A RunInterrupted's resume command is for `evoprune run`, and may name a deleted scratch folder.
        except RunInterrupted:
            kept = "" if self.run_dir is None else f" (delete run_dir {self.run_dir!r} or pass another)"
            raise KeyboardInterrupt(
                f"{type(self).__name__}.fit was interrupted (Ctrl-C or SIGTERM); a fit does not resume: "
                f"call fit again{kept}."
            ) from None

    def _feature_set(self, X: np.ndarray, y: np.ndarray) -> FeatureSet:
        """One split: train and a stratified validation carve; the test part repeats validation (no test in
        fit)."""
        names = tuple(str(c) for c in self.classes_)
        train, val = stratified_carve(
            np.arange(len(y)), y, self.validation_fraction, make_rng(self.seed_), "validation", names
        )
        return FeatureSet(X, y, names, (Split(train, val, val),), {"source": "array"})

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``: the best head's weights (those of
        ``head_``) through the one forward pass (:func:`~evoprune_deap.head.forward.head_logits`)."""
        from .head.forward import head_logits, softmax

        check_is_fitted(self, "head_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        weights, masks = self._head()
        return softmax(head_logits(weights, masks, X))

    def _head(self) -> tuple:
        """(weights, masks) of the best head: the weights read from ``head_``, the masks from ``mask_``."""
        from .config import HeadConfig
        from .head.masks import Encoding
        from .head.weights import HeadWeights

        units = None if self.hidden_units is None else tuple(self.hidden_units)
        widths = HeadConfig(hidden_units=units).widths(self.encoding)
        masks = Encoding(self.encoding, self.n_features_in_, widths).head_masks(self.mask_)
        return HeadWeights.from_model(self.head_.get_layer("pruned_head"), len(widths)), masks

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "head_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class EvoPruneFeatureSelector(SelectorMixin, BaseEstimator):
    """EvoPruneDeepTL's feature selection (``fs`` encoding) as a scikit-learn transformer.

    ``fit`` evolves a mask over the input features with the classifier's
    protocol (:class:`EvoPruneClassifier` with ``encoding="fs"``);
    ``transform`` keeps the selected columns; ``get_support()`` gives the mask.
    Parameters are those of :class:`EvoPruneClassifier` but ``encoding``.

    Attributes
    ----------
    classifier_ : EvoPruneClassifier
        The fitted classifier (its ``head_`` is the pruned head).
    n_features_in_ : int
    """

    def __init__(
        self,
        population=10,
        evaluations=40,
        max_epochs=60,
        hidden_units=None,
        validation_fraction=0.15,
        in_flight=1,
        engine="auto",
        fitness_seeds="per-mask",
        repeats=1,
        cv_folds=1,
        reevaluate=0,
        final_repeats=None,
        random_state=None,
        run_dir=None,
    ):
        _store_params(self, locals())

    def fit(self, X, y):
        validate_data(self, X, y, dtype=np.float32)
        self.classifier_ = EvoPruneClassifier(encoding="fs", **self.get_params()).fit(X, y)
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "classifier_")
        return self.classifier_.mask_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.target_tags.required = True
        return tags
