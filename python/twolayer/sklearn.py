"""``twolayer.sklearn.MLPClassifier``: scikit-learn's MLPClassifier on twolayer's kernels.

A drop-in for ``sklearn.neural_network.MLPClassifier`` with one tanh hidden
layer. It *is* a subclass of it: the constructor (same parameters and defaults
except ``activation="tanh"``, plus ``backend`` and ``n_threads``), parameter
validation, label binarising, the Glorot initialisation drawn from
``random_state``, the validation split, the stopping and adaptive-rate rules,
``warm_start`` and ``partial_fit`` are scikit-learn's own code. Only the
numerics are replaced: each epoch is one call of a backend's ``train_epoch``
(``twolayer._epochs.run_epoch``: fused passes over the batches, the optimizer
update in place on the packed parameters), and prediction runs the fused
forward pass. So a model fitted here equals the one scikit-learn fits with the
same arguments, up to rounding.

Refused with a ValueError: more than one hidden layer, an activation other
than "tanh", the "lbfgs" solver, negative sample weights.

scikit-learn is required by this module only (``import twolayer`` stays free of
it). The private methods overridden here are checked against the installed
scikit-learn at import: a version whose internals differ fails loudly instead
of training something else.
"""

from __future__ import annotations

import inspect
import warnings
from numbers import Integral
from types import ModuleType
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SklearnMLPClassifier
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils import shuffle
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from . import _predict
from . import _validation as v
from ._backends import BACKENDS
from ._epochs import Optimizer, run_epoch
from ._errors import DivergenceError
from ._geometry import BLOCK
from ._params import Layout

# The parent's private methods this class overrides or calls, with the parameters it
# relies on. Checked at import (see _check_parent).
PARENT_SIGNATURES = {
    "_fit": ["self", "X", "y", "sample_weight", "incremental"],
    "_fit_stochastic": [
        "self", "X", "y", "sample_weight", "activations", "deltas", "coef_grads",
        "intercept_grads", "layer_units", "incremental",
    ],
    "_forward_pass_fast": ["self", "X", "check_input"],
    "_validate_input": ["self", "X", "y", "incremental", "reset"],
    "_update_no_improvement_count": ["self", "early_stopping", "X", "y", "sample_weight"],
    "_initialize": ["self", "y", "layer_units", "dtype"],
}  # fmt: skip


def _check_parent() -> None:
    import sklearn

    for name, expected in PARENT_SIGNATURES.items():
        method = getattr(_SklearnMLPClassifier, name, None)
        found = None if method is None else list(inspect.signature(method).parameters)
        if found != expected:
            raise ImportError(
                f"twolayer.sklearn.MLPClassifier needs scikit-learn 1.7 to 1.9: the installed "
                f"{sklearn.__version__} has MLPClassifier.{name}{tuple(found or ())}, "
                f"expected {tuple(expected)}"
            )


_check_parent()


class _Optimizer:
    """scikit-learn's optimizer semantics over the kernels' packed optimizer state.

    ``schedule`` is scikit-learn's own SGDOptimizer/AdamOptimizer holding no
    parameters: its ``iteration_ends`` (invscaling) and ``trigger_stopping``
    (adaptive: divide the rate by 5) set the rate the kernels use for the next
    epoch. (Adam's rate stays ``learning_rate_init``; the kernel applies the bias
    correction per batch.) ``kernel`` holds the velocities or moments and Adam's t.
    """

    def __init__(self, est: MLPClassifier, n_params: int, dtype: np.dtype) -> None:
        self.schedule: SGDOptimizer | AdamOptimizer
        if est.solver == "sgd":
            self.schedule = SGDOptimizer(
                [], est.learning_rate_init, est.learning_rate, est.momentum,
                est.nesterovs_momentum, est.power_t,
            )  # fmt: skip
        else:
            self.schedule = AdamOptimizer(
                [], est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon
            )
        self.kernel = Optimizer(
            est.solver, n_params, dtype,
            learning_rate=est.learning_rate_init, momentum=est.momentum,
            nesterovs_momentum=est.nesterovs_momentum, beta_1=est.beta_1, beta_2=est.beta_2,
            epsilon=est.epsilon, alpha=est.alpha,
        )  # fmt: skip

    def before_epoch(self, alpha: float, dtype: np.dtype) -> Optimizer:
        """The kernel optimizer with this epoch's rate and alpha (read each epoch, as
        scikit-learn's backprop reads ``self.alpha``), in the dtype of this fit's data."""
        if self.kernel.state.dtype != dtype:  # partial_fit on data of another dtype
            self.kernel.state = self.kernel.state.astype(dtype)
        self.kernel.learning_rate = float(self.schedule.learning_rate)
        self.kernel.alpha = alpha
        return self.kernel

    # scikit-learn's optimizer interface, for code that calls it on ``_optimizer``.
    @property
    def learning_rate(self) -> float:
        return float(self.schedule.learning_rate)

    def iteration_ends(self, time_step: int) -> None:
        self.schedule.iteration_ends(time_step)

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        return bool(self.schedule.trigger_stopping(msg, verbose))


# The held-out part of early stopping: X_val, y_val (labels), sample_weight_val or None.
_Validation = tuple[np.ndarray, np.ndarray, Any]


class _Epoch(NamedTuple):
    """One fit's data in the kernels' layout, and the call that trains one epoch."""

    kernels: ModuleType
    X: np.ndarray  # (n_features, n_samples): a strided view of scikit-learn's X, no copy
    Y: np.ndarray  # (n_outputs, n_samples) in the dtype of X
    weights: np.ndarray | None
    theta: np.ndarray  # the packed parameters, updated in place
    batch_size: int
    softmax: bool
    n_threads: int

    @classmethod
    def of(
        cls, est: MLPClassifier, X: np.ndarray, y: np.ndarray, sw: Any, layout: Layout
    ) -> _Epoch:
        n_samples, dtype = X.shape[0], X.dtype
        if est.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if est.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going "
                    "to be clipped",
                    stacklevel=6,
                )
            batch_size = int(np.clip(est.batch_size, 1, n_samples))
        weights = None if sw is None else np.ascontiguousarray(sw, dtype=dtype)
        if weights is not None and not weights.sum() > 0:
            raise ValueError("sample_weight must not be all zero")
        return cls(
            kernels=_predict.kernels_for(est.backend),
            X=X.T,
            Y=np.ascontiguousarray(y.T, dtype=dtype),
            weights=weights,
            theta=layout.pack(est._network_params(), dtype),
            batch_size=batch_size,
            softmax=est.out_activation_ == "softmax",
            # A batch runs in blocks of BLOCK samples, one block per thread.
            n_threads=1 if batch_size <= BLOCK else v.check_n_threads(est.n_threads),
        )

    def run(self, est: MLPClassifier, order: np.ndarray | None) -> float:
        """One epoch over the batches of ``order``; its cost (scikit-learn's ``loss_``)."""
        optimizer = est._optimizer.before_epoch(est.alpha, self.theta.dtype)
        try:
            return run_epoch(
                self.kernels, self.X, self.Y, self.weights, order, self.theta, optimizer,
                self.batch_size, self.softmax, self.n_threads,
            )  # fmt: skip
        except DivergenceError as error:
            raise ValueError(
                f"Solver produced non-finite parameter weights (epoch {est.n_iter_ + 1}). "
                "The input data may contain large values and need to be preprocessed. "
                "The weights are the last finite ones."
            ) from error


class MLPClassifier(_SklearnMLPClassifier):  # type: ignore[misc]  # sklearn is untyped
    """scikit-learn's MLPClassifier with one tanh hidden layer, trained by twolayer's kernels.

    Parameters are scikit-learn's (see ``sklearn.neural_network.MLPClassifier``),
    with ``activation="tanh"`` the default and the only value accepted,
    ``hidden_layer_sizes`` of one layer and ``solver`` "adam" or "sgd", plus:

    backend : {"auto", "numpy", "cython", "numba"}, default "auto"
        The kernels that train and predict ("numpy" is the reference).
    n_threads : int >= 1 or None
        Threads of the kernels (None: OMP_NUM_THREADS, else every CPU). The
        result does not depend on it; a batch smaller than 2048 samples runs on one.

    The fitted attributes are scikit-learn's. Differences: sparse X is
    densified; sample weights must be >= 0, and a batch whose weights sum to 0
    is skipped (scikit-learn divides by zero there); the loss is computed from
    the logits without clipping probabilities to [eps, 1 - eps] (they differ
    only once a probability is below 2.2e-16); a non-finite update stops the
    fit with scikit-learn's "non-finite parameter weights" ValueError, the
    weights holding the last finite values.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_SklearnMLPClassifier._parameter_constraints,
        "backend": [StrOptions({"auto", *BACKENDS})],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }
    _no_improvement_count: int  # scikit-learn's stopping counter (set by its _initialize)

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "tanh",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: Any = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        backend: str = "auto",
        n_threads: int | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
        )  # fmt: skip
        self.backend = backend
        self.n_threads = n_threads

    # ------------------------------------------------------------- training
    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False) -> Any:
        self._refuse_unsupported()
        if sample_weight is not None:
            weights = np.asarray(sample_weight)
            if weights.dtype.kind in "biuf" and np.any(weights < 0):
                raise ValueError(
                    "sample_weight must be >= 0: twolayer.sklearn.MLPClassifier refuses "
                    "negative sample weights"
                )
        return super()._fit(X, y, sample_weight=sample_weight, incremental=incremental)

    def _refuse_unsupported(self) -> None:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if len(sizes) != 1:
            raise ValueError(
                "twolayer.sklearn.MLPClassifier trains one hidden layer: hidden_layer_sizes "
                f"must have one entry, got {tuple(sizes)}"
            )
        if self.activation != "tanh":
            raise ValueError(
                "twolayer.sklearn.MLPClassifier has tanh hidden units only: activation must "
                f"be 'tanh', got {self.activation!r}"
            )
        if self.solver == "lbfgs":
            raise ValueError(
                "twolayer.sklearn.MLPClassifier trains with the stochastic solvers only: "
                "solver must be 'adam' or 'sgd', got 'lbfgs'"
            )

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> Any:
        X, y = super()._validate_input(X, y, incremental, reset)
        return (X.toarray() if sp.issparse(X) else X), y

    def _fit_stochastic(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        activations: Any,
        deltas: Any,
        coef_grads: Any,
        intercept_grads: Any,
        layer_units: list[int],
        incremental: bool,
    ) -> None:
        """scikit-learn's ``_fit_stochastic`` (same split, batches, stopping and schedule)
        with each epoch run by the kernels. ``activations`` ... ``intercept_grads`` are
        scikit-learn's buffers, unused here."""
        layout = Layout(layer_units[0], layer_units[1], layer_units[2])
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _Optimizer(self, layout.size, X.dtype)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            X_train, X_val, y_train, y_val, sw_train, sw_val = self._validation_split(
                X, y, sample_weight
            )
            validation: _Validation | None = (X_val, y_val, sw_val)
        else:
            X_train, y_train, sw_train, validation = X, y, sample_weight, None
        epoch = _Epoch.of(self, X_train, y_train, sw_train, layout)
        self._view_params(epoch.theta, layout)  # coefs_ follow theta: nothing to write back
        try:
            self._run_epochs(epoch, incremental, validation)
        finally:
            self._own_params()
        if validation is not None:  # restore the best weights
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _run_epochs(self, epoch: _Epoch, incremental: bool, validation: _Validation | None) -> None:
        """The epoch loop of scikit-learn's ``_fit_stochastic``, statement for statement."""
        early_stopping = validation is not None
        X_val, y_val, sw_val = validation if validation is not None else (None, None, None)
        n_samples = epoch.X.shape[1]
        sample_idx = np.arange(n_samples, dtype=np.int64)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = shuffle(sample_idx, random_state=self._random_state)
                self.loss_ = epoch.run(self, sample_idx if self.shuffle else None)
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))  # noqa: UP031
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                self._optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    watched = "Validation score" if early_stopping else "Training loss"
                    msg = (
                        f"{watched} did not improve more than tol={self.tol:f} "
                        f"for {self.n_iter_no_change} consecutive epochs."
                    )
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the "  # noqa: UP031
                        "optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                        stacklevel=6,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=6)

    def _validation_split(
        self, X: np.ndarray, y: np.ndarray, sample_weight: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any, Any]:
        """scikit-learn's split of the validation set (same draws from ``_random_state``)."""
        stratify = y if self.n_outputs_ == 1 else None  # not for multi-label
        arrays = [X, y] if sample_weight is None else [X, y, sample_weight]
        parts = train_test_split(
            *arrays,
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        X_train, X_val, y_train, y_val = parts[:4]
        sw_train, sw_val = (None, None) if sample_weight is None else parts[4:]
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset."
            )
        y_val = self._label_binarizer.inverse_transform(y_val)
        return X_train, X_val, y_train, y_val, sw_train, sw_val

    def _network_params(self) -> dict[str, np.ndarray]:
        """coefs_ / intercepts_ in twolayer's layout (views where possible)."""
        W1, W2 = self.coefs_
        b1, b2 = self.intercepts_
        return {"W1": W1.T, "b1": b1.reshape(-1, 1), "W2": W2.T, "b2": b2.reshape(-1, 1)}

    def _view_params(self, theta: np.ndarray, layout: Layout) -> None:
        """coefs_ and intercepts_ as views of the packed parameters the kernels update,
        so scikit-learn's validation scoring and best-weights copies see every epoch."""
        p = layout.views(theta)
        self.coefs_ = [p["W1"].T, p["W2"].T]
        self.intercepts_ = [p["b1"][:, 0], p["b2"][:, 0]]

    def _own_params(self) -> None:
        """C-ordered copies of the weights, as scikit-learn's (no view of a kernel buffer)."""
        self.coefs_ = [np.ascontiguousarray(c).copy() for c in self.coefs_]
        self.intercepts_ = [np.ascontiguousarray(b).copy() for b in self.intercepts_]

    # ------------------------------------------------------------ prediction
    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:
        """The output layer's activations (n_samples, n_outputs) from the fused forward pass."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if sp.issparse(X):
            X = X.toarray()
        X = np.asarray(X)
        if X.dtype not in v.SUPPORTED_DTYPES:
            X = X.astype(np.float64)
        params = {k: p.astype(X.dtype, copy=False) for k, p in self._network_params().items()}
        mode = _predict.SOFTMAX if self.out_activation_ == "softmax" else _predict.PROBA
        return _predict.outputs(
            params, X.T, mode, self.backend, self.n_threads, samples_first=True
        ).T
