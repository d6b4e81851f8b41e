"""``TwoLayerClassifier``: the network as a scikit-learn classifier.

X is (n_samples, n_features) here, scikit-learn's layout; the estimator
passes the transposed view to the functional ``fit`` (which accepts any
memory order, so nothing is copied and the numbers are the same).

scikit-learn is optional. ``import twolayer`` never imports this module: the
package's ``__getattr__`` loads it on first use of ``twolayer.TwoLayerClassifier``.
When scikit-learn is importable the class derives from its ``ClassifierMixin``
and ``BaseEstimator`` (so ``clone``, ``Pipeline``, ``GridSearchCV``, tags, HTML
repr and ``check_estimator`` work) and validates X with scikit-learn's own
``validate_data`` (feature names, messages); without it, small stand-ins give
the same ``get_params``/``set_params``/``score`` behaviour.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from . import _predict, _training
from . import _validation as v
from ._diagnostics import fit_problem
from ._labels import (
    _as_label_array,
    _encode_local,
    _encode_targets,
    _fit_targets,
    _label_kind,
    _validation_split,
    class_labels,
    class_probabilities,
)
from ._sklearn_compat import (
    HAVE_SKLEARN,
    BaseEstimator,
    ClassifierMixin,
    ConvergenceWarning,
    NotFittedError,
    _check_X,
    _sk_validate_data,
)


# scikit-learn ships no type information, so its base classes are Any to mypy.
class TwoLayerClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Two-layer tanh/sigmoid network trained by full-batch gradient descent.

    Parameters
    ----------
    hidden_size : int, default 5
        Number of tanh hidden units.
    learning_rate : float, default 0.3
    max_iter : int, default 5000
        Gradient-descent iterations per ``fit`` (and per ``partial_fit`` call).
    backend : {"auto", "numpy", "cython", "numba"}, default "auto"
    dtype : None, float32 or float64
        None keeps float32 when X is float32, otherwise float64.
    n_threads : int or None
        None: OMP_NUM_THREADS when set, else every CPU available. Results do
        not depend on it.
    random_state : int, RandomState, Generator or None, default 3
        Seed of the initial weights (the tutorial's ``np.random.seed``
        stream) and of the validation split.
    tol : float or None
        Early stopping on the training cost (see ``twolayer.fit``); with
        ``early_stopping=True``, the improvement required on the validation
        cost (0 when None).
    n_iter_no_change : int, default 10
        Patience of the early stopping, in iterations.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified)
        and stop when its cost stops improving; the best parameters are kept.
    validation_fraction : float in (0, 1), default 0.1
    verbose : bool, default False
        Progress on stderr.
    callback : callable(iteration, cost, params) -> bool, optional
        Called between kernel chunks; returning True stops the fit.
    warm_start : bool, default False
        When True, ``fit`` continues from the parameters of the previous fit
        (same classes and features) instead of a fresh initialisation.
    comm : mpi4py communicator or None, default None
        Train over the ranks of ``comm`` (``pip install 'twolayer[mpi]'``; see
        ``twolayer.fit``): every rank calls ``fit``/``partial_fit`` with its own
        samples (rows of X) at the same time, and every rank ends with the
        network fitted on all samples at once, bitwise identical on every rank.
        ``classes_`` is the union of every rank's labels, so a rank may lack
        some classes or hold no samples at all (X of shape (0, n_features)).
        An int ``random_state`` must be the same on every rank; with None, a
        RandomState or a Generator, rank 0 draws the seed and the others use it.
        ``tol``, ``early_stopping``, ``verbose`` and ``callback`` are not
        supported: a rank setting one makes every rank raise the same
        ``ValueError``, as does bad input on any rank. ``warm_start`` and
        ``partial_fit`` work as without ``comm``. ``predict``, ``predict_proba``,
        ``decision_function`` and ``score`` stay local: they use this rank's X
        only (a global score is the caller's reduction, e.g. ``comm.allreduce``
        of the hit counts).

    alpha, solver, momentum, nesterovs_momentum, batch_size, shuffle, beta_1, beta_2,
    epsilon, schedule, power_t
        ``twolayer.fit``'s training options, scikit-learn's names and meanings
        (``learning_rate`` stays the rate itself; ``schedule`` "constant" or
        "invscaling"). The defaults train as before, bit for bit. ``partial_fit``
        and warm starts restart the optimizer's velocities or moments from zero.
        Not supported with ``comm``.
    output : {"auto", "sigmoid", "softmax"}, default "auto"
        Multiclass targets: "auto" and "softmax" train one softmax over the K
        outputs (categorical cross-entropy, as MLPClassifier; one-vs-rest with
        ``comm``), "sigmoid" K one-vs-rest sigmoid outputs. Binary and
        multi-label targets always have sigmoid outputs.

    Targets: any two labels make one sigmoid output; K > 2 labels make K
    outputs (``predict`` takes the largest; ``predict_proba`` is their
    softmax, or for ``output="sigmoid"`` the sigmoids normalised to sum to 1);
    a 2-D 0/1 indicator matrix is a multi-label problem (independent outputs,
    ``predict`` returns the indicator matrix).

    Attributes
    ----------
    classes_ : ndarray of the class labels (``arange(n_labels)`` for multi-label)
    coefs_ : [W1 of shape (n_features, hidden_size), W2 of shape (hidden_size, n_outputs)]
    intercepts_ : [b1 of shape (hidden_size,), b2 of shape (n_outputs,)]
    loss_curve_ : ndarray, the training cost before each update (all fits,
        with ``warm_start``/``partial_fit``)
    validation_loss_curve_ : ndarray or None, the validation cost of the
        initial parameters and after each update (``early_stopping=True``)
    n_iter_ : int, iterations run (summed over warm-started fits and partial_fit calls)
    n_features_in_ : int
    out_activation_ : "softmax" or "logistic"; n_outputs_ : int; n_layers_ : 3
    loss_ : float, the last training cost
    feature_names_in_ : names of the columns of a DataFrame X (scikit-learn installed)
    """

    loss_curve_: np.ndarray
    n_iter_: int

    def __init__(
        self,
        hidden_size: int = 5,
        learning_rate: float = 0.3,
        max_iter: int = 5000,
        backend: str = "auto",
        dtype: Any = None,
        n_threads: int | None = None,
        random_state: Any = 3,
        tol: float | None = None,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        verbose: bool = False,
        callback: Any = None,
        warm_start: bool = False,
        comm: Any = None,
        alpha: float = 0.0,
        solver: str = "sgd",
        momentum: float = 0.0,
        nesterovs_momentum: bool = False,
        batch_size: int | None = None,
        shuffle: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        schedule: str = "constant",
        power_t: float = 0.5,
        output: str = "auto",
    ) -> None:
        self.hidden_size = hidden_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.backend = backend
        self.dtype = dtype
        self.n_threads = n_threads
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.verbose = verbose
        self.callback = callback
        self.warm_start = warm_start
        self.comm = comm
        self.alpha = alpha
        self.solver = solver
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.schedule = schedule
        self.power_t = power_t
        self.output = output

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multilabel": True, "multioutput": True}

    # ------------------------------------------------------------- training
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TwoLayerClassifier:
        """Train on X (n_samples, n_features) and labels y; returns self.

        ``sample_weight`` (n_samples,), >= 0: weighted cost and gradients, as
        scikit-learn's MLP weighs them (the validation cost of early stopping is unweighted).
        """
        return self._train(X, y, partial=False, classes=None, sample_weight=sample_weight)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> TwoLayerClassifier:
        """Run ``max_iter`` more iterations on (X, y), continuing from the current parameters.

        The first call initialises the network; ``classes`` (all labels that
        will ever appear) may be given then, as scikit-learn's incremental
        learners expect. Early stopping does not apply to ``partial_fit``. The
        optimizer's velocities or moments start from zero in every call.
        """
        return self._train(X, y, partial=True, classes=classes, sample_weight=sample_weight)

    def _train(
        self, X: Any, y: Any, *, partial: bool, classes: Any, sample_weight: Any = None
    ) -> TwoLayerClassifier:
        fitted = hasattr(self, "coefs_")
        resume = fitted and (partial or bool(self.warm_start))
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if self.comm is not None:
            return self._train_distributed(
                X, y, partial=partial, classes=classes, resume=resume, weighted=sample_weight
                is not None
            )
        X = self._validate_X(X, reset=not resume)
        if resume:
            kind, Y = _encode_targets(y, X.shape[0], self._kind, self.classes_)
            class_labels = self.classes_
        else:
            given = None if classes is None or not partial else np.asarray(classes)
            kind, class_labels, Y = _fit_targets(y, X.shape[0], given)
            kind = self._output_kind(kind)

        seed = _seed_from(self.random_state)
        max_iter = v.check_positive_int(self.max_iter, "max_iter", minimum=0)
        validation_data = None
        X_train, Y_train, sw_train = X, Y, sample_weight
        if self.early_stopping and not partial:
            train, val = _validation_split(Y, kind, self.validation_fraction, seed)
            X_train, Y_train = X[train], Y[:, train]
            validation_data = (X[val].T, Y[:, val])
            if sample_weight is not None:
                sw_train = v.check_sample_weight(sample_weight, X.shape[0], X.dtype)[train]

        init = self._continued_params() if resume else None
        result = _training._fit(
            X_train.T,
            Y_train,
            self.learning_rate,
            self.hidden_size,
            max_iter,
            backend=self.backend,
            dtype=self.dtype,
            n_threads=self.n_threads,
            seed=seed,
            callback=self.callback,
            verbose=self.verbose,
            tol=None if partial else self.tol,
            n_iter_no_change=self.n_iter_no_change,
            validation_data=validation_data,
            init_params=init,
            sample_weight=sw_train,
            **self._training_options(kind),
        )
        self._store(
            result.params, result.costs, result.validation_costs, kind, class_labels, resume
        )
        if not partial:
            problem = fit_problem(
                result.params, X_train.T, Y_train, result.costs, flat_cost=False
            )
            if problem is not None:
                warnings.warn(
                    f"{problem}; the data may need scaling (e.g. sklearn.preprocessing."
                    "StandardScaler in a Pipeline)",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        return self

    def _store(
        self,
        p: dict[str, np.ndarray],
        costs: np.ndarray,
        validation_costs: np.ndarray | None,
        kind: str,
        class_labels: np.ndarray,
        resume: bool,
    ) -> None:
        self._set_network(p, kind, class_labels)
        if resume:
            self.loss_curve_ = np.concatenate([self.loss_curve_, costs])
            self.n_iter_ = self.n_iter_ + costs.size
        else:
            self.loss_curve_ = costs
            self.n_iter_ = costs.size
        self.validation_loss_curve_ = validation_costs
        if self.loss_curve_.size:
            self.loss_ = float(self.loss_curve_[-1])

    def _set_network(self, p: dict[str, np.ndarray], kind: str, class_labels: np.ndarray) -> None:
        """The fitted network's attributes (also set by ``twolayer.load``)."""
        self._kind = kind
        self.classes_ = class_labels
        self.coefs_ = [np.ascontiguousarray(p["W1"].T), np.ascontiguousarray(p["W2"].T)]
        self.intercepts_ = [p["b1"].ravel().copy(), p["b2"].ravel().copy()]
        self.out_activation_ = "softmax" if kind == "softmax" else "logistic"
        self.n_outputs_ = p["W2"].shape[0]
        self.n_layers_ = 3
        self.n_features_in_ = p["W1"].shape[1]

    def _continued_params(self) -> dict[str, np.ndarray]:
        """The parameters a warm start or ``partial_fit`` continues from, checked."""
        init = self._network_params()
        if init["W1"].shape[0] != self.hidden_size:
            raise ValueError(
                f"hidden_size is {self.hidden_size} but the network being continued "
                f"(warm_start or partial_fit) has {init['W1'].shape[0]} hidden units"
            )
        return init

    def _output_kind(self, kind: str) -> str:
        """The target kind a first fit trains: "softmax" for multiclass labels with
        ``output`` "auto" (as MLPClassifier; one-vs-rest over MPI) or "softmax"."""
        output = self.output
        if output not in ("auto", "sigmoid", "softmax"):
            raise ValueError(f"output must be 'auto', 'sigmoid' or 'softmax', got {output!r}")
        if output == "softmax" and kind != "multiclass":
            raise ValueError(
                "output='softmax' needs 1-D labels of more than two classes (one softmax "
                f"over the classes); y is {kind}"
            )
        softmax = output == "softmax" or (output == "auto" and self.comm is None)
        return "softmax" if kind == "multiclass" and softmax else kind

    def _training_options(self, kind: str) -> dict[str, Any]:
        """``twolayer.fit``'s training options (it checks them, naming each)."""
        options = {name: getattr(self, name) for name in _TRAINING_OPTIONS}
        options["output"] = "softmax" if kind == "softmax" else "sigmoid"
        return options

    # ---------------------------------------------------------- over MPI
    def _train_distributed(
        self, X: Any, y: Any, *, partial: bool, classes: Any, resume: bool, weighted: bool
    ) -> TwoLayerClassifier:
        """``fit``/``partial_fit`` with ``comm``: every rank holds its own samples.

        Every local check runs first and the ranks exchange the outcome (with
        their labels and seed) in one ``allgather``; from those records every
        rank decides the same thing (the same error, or the same classes_ and
        seed), so no rank raises while another waits in a collective. Then
        ``fit_distributed`` trains (its own agreement step checks the data
        shapes, dtype, hyperparameters and initial parameters).
        """
        from ._mpi import agree_targets, check_comm, exchange, fit_distributed

        comm = self.comm
        check_comm(comm)
        rank = comm.Get_rank()
        records, local = exchange(
            comm, lambda: self._local_record(X, y, partial, classes, resume, rank)
        )
        kind, class_labels = agree_targets(records, type(self).__name__)
        assert local is not None  # a local error raised on every rank above
        X, y, seed, max_iter, init = local
        seed = seed if records[rank]["seed_is_int"] else records[0]["seed"]
        Y = _encode_local(y, kind, class_labels)

        options = {
            "early_stopping": bool(self.early_stopping) and not partial,
            "tol": self.tol is not None and not partial,
            "verbose": bool(self.verbose),
            "callback": self.callback is not None,
            "sample_weight": weighted,
            "output='softmax'": self.output == "softmax" or (resume and self._kind == "softmax"),
            **{
                name: getattr(self, name) != _DEFAULTS[name]
                for name in _TRAINING_OPTIONS
            },
        }
        params, costs = fit_distributed(
            X.T,
            Y,
            self.learning_rate,
            self.hidden_size,
            max_iter,
            backend=self.backend,
            dtype=self.dtype,
            n_threads=self.n_threads,
            seed=seed,
            comm=comm,
            init_params=init,
            unsupported=[name for name, used in options.items() if used],
        )
        self._store(params, costs, None, kind, class_labels, resume)
        return self

    def _local_record(
        self, X: Any, y: Any, partial: bool, classes: Any, resume: bool, rank: int
    ) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """This rank's checks; (record shared with the other ranks, local state)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        X = self._validate_X(X, reset=not resume, min_samples=0)
        y = _as_label_array(y, X.shape[0])
        max_iter = v.check_positive_int(self.max_iter, "max_iter", minimum=0)
        # An int is every rank's own (fit_distributed checks that they agree); a random
        # source is drawn on rank 0 only, and the other ranks take that seed.
        state = self.random_state
        seed_is_int = state is not None and not isinstance(
            state, (np.random.RandomState, np.random.Generator)
        )
        seed = _seed_from(state) if seed_is_int or rank == 0 else None
        if seed is None and rank == 0:  # None: fresh entropy, but one seed for every rank
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        init = self._continued_params() if resume else None
        empty = y.shape[0] == 0 and y.ndim == 1  # no labels: adopts the other ranks' kind
        kind = None if empty else _label_kind(y)
        labels = None
        if kind == "labels":
            try:
                labels = np.unique(y)
            except TypeError:
                raise TypeError(
                    "y mixes label types that cannot be sorted (e.g. strings and numbers)"
                ) from None
        given = None
        if partial and not resume and classes is not None:
            given = np.unique(np.asarray(classes))
        record = {
            "error": None,
            "n_samples": X.shape[0],
            "kind": kind,
            "n_columns": y.shape[1] if kind == "multilabel" else None,
            "labels": labels,
            "given": given,
            "seed": seed,
            "seed_is_int": seed_is_int,
            "resume": resume,
            "previous": (self._kind, self.classes_) if resume else None,
        }
        return record, (X, y, seed, max_iter, init)

    def _network_params(self) -> dict[str, np.ndarray]:
        """The fitted parameters in the functional API's layout (``twolayer.fit``'s params)."""
        W1, W2 = self.coefs_
        b1, b2 = self.intercepts_
        return {
            "W1": np.ascontiguousarray(W1.T),
            "b1": b1.reshape(-1, 1).copy(),
            "W2": np.ascontiguousarray(W2.T),
            "b2": b2.reshape(-1, 1).copy(),
        }

    # ------------------------------------------------------------ prediction
    # All four go through the kernels' fused forward pass (twolayer._predict).
    def _outputs(self, X: Any, mode: int) -> np.ndarray:
        """The network's outputs for X (n_samples, n_features): (n_samples, rows)."""
        self._check_fitted()
        checked = self._prediction_X(X)
        W1, W2 = self.coefs_
        b1, b2 = self.intercepts_
        params = {"W1": W1.T, "b1": b1.reshape(-1, 1), "W2": W2.T, "b2": b2.reshape(-1, 1)}
        if checked.dtype != W1.dtype:
            with np.errstate(over="ignore"):  # float64 X, float32 model: the kernel refuses inf
                checked = checked.astype(W1.dtype)
        out = _predict.outputs(
            params, checked.T, mode, self.backend, self.n_threads, samples_first=True,
            recheck_X=lambda: self._validate_X(X, reset=False),
        )  # fmt: skip
        return out.T

    def _prediction_X(self, X: Any) -> np.ndarray:
        """X checked for prediction: an O(1) path for a float ndarray of the right width.

        The kernel then checks that its values are finite, and on a NaN or an
        infinity the full checks run and raise their usual message.
        """
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in v.SUPPORTED_DTYPES
            and X.shape[0] >= 1
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
        ):
            return X
        return self._validate_X(X, reset=False)

    def decision_function(self, X: Any) -> np.ndarray:
        """Output logits: shape (n_samples,) for binary, (n_samples, n_outputs) otherwise."""
        Z = self._outputs(X, _predict.LOGITS)
        return Z[:, 0] if self._kind == "binary" else Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes).

        Binary: ``[1 - p, p]`` (each computed as a sigmoid: no cancellation).
        Multiclass: the softmax over the K outputs (``output`` "auto" or
        "softmax"), or the K one-vs-rest sigmoids normalised to sum to 1 per row
        (``output="sigmoid"``). Multi-label: the independent sigmoid of each label.
        """
        self._check_fitted()
        if self._kind == "binary":
            return self._outputs(X, _predict.PAIR)
        if self._kind == "multilabel":
            return self._outputs(X, _predict.PROBA)
        if self._kind == "softmax":
            return self._outputs(X, _predict.SOFTMAX)
        return class_probabilities(self._outputs(X, _predict.LOGITS), self._kind)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (n_samples,), or the 0/1 indicator matrix for multi-label targets."""
        return class_labels(self._outputs(X, _predict.LOGITS), self._kind, self.classes_)

    # --------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "coefs_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _validate_X(self, X: Any, *, reset: bool, min_samples: int = 1) -> np.ndarray:
        if HAVE_SKLEARN:
            kwargs = {"reset": reset, "dtype": [np.float64, np.float32]}
            if min_samples != 1:
                kwargs["ensure_min_samples"] = min_samples
            if _sk_validate_data is not None:
                X = _sk_validate_data(self, X, **kwargs)
            else:  # scikit-learn < 1.6
                X = self._validate_data(X, **kwargs)
        else:
            X = _check_X(X, min_samples)
            if reset:
                self.n_features_in_ = X.shape[1]
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
        return X


# twolayer.fit's training options, passed through under the same names.
_TRAINING_OPTIONS = (
    "alpha", "solver", "momentum", "nesterovs_momentum", "batch_size", "shuffle",
    "beta_1", "beta_2", "epsilon", "schedule", "power_t",
)  # fmt: skip
_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(TwoLayerClassifier.__init__).parameters.items()
}


def _seed_from(random_state: Any) -> int | None:
    """The tutorial-style integer seed for ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return v.check_seed(
        random_state, "random_state", "an int, a numpy RandomState or Generator, or None"
    )


