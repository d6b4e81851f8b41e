"""scikit-learn's base classes and exceptions, or small stand-ins without it.

When scikit-learn is importable the estimator derives from its
``ClassifierMixin`` and ``BaseEstimator`` and validates X with its
``validate_data``; without it, the stand-ins here give the same
``get_params``/``set_params``/``score`` behaviour and ``check_X`` gives
scikit-learn's messages.
"""

from __future__ import annotations

__all__ = [
    "HAVE_SKLEARN",
    "BaseEstimator",
    "ClassifierMixin",
    "ConvergenceWarning",
    "NotFittedError",
    "_check_X",
    "_sk_validate_data",
]

import inspect
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError

    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data as _sk_validate_data
    except ImportError:  # older: the private method of BaseEstimator
        _sk_validate_data = None
    HAVE_SKLEARN = True
except ImportError:  # scikit-learn is optional
    HAVE_SKLEARN = False
    _sk_validate_data = None

    # The stand-ins redefine the names imported above (mypy: no-redef); scikit-learn
    # ships no type information, so the imported ones are Any and nothing else differs.
    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """Raised when a method needs a fitted estimator (scikit-learn's class when installed)."""

    class ConvergenceWarning(UserWarning):  # type: ignore[no-redef]
        """A fit that learned little (scikit-learn's class when installed)."""

    class BaseEstimator:  # type: ignore[no-redef]
        """Minimal stand-in for ``sklearn.base.BaseEstimator``: parameters and repr."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            signature = inspect.signature(cls.__init__)
            return sorted(p for p in signature.parameters if p != "self")

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params: Any) -> BaseEstimator:
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(
                        f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, name, value)
            return self

        def __repr__(self) -> str:
            defaults = {
                name: p.default
                for name, p in inspect.signature(type(self).__init__).parameters.items()
            }
            changed = [
                f"{name}={value!r}"
                for name, value in self.get_params().items()
                if not _same(value, defaults.get(name))
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

    class ClassifierMixin:  # type: ignore[no-redef]
        """Minimal stand-in for ``sklearn.base.ClassifierMixin``: accuracy as the score."""

        _estimator_type = "classifier"

        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            """Mean accuracy (exact match of every label for multi-label targets)."""
            y_true = np.asarray(y)
            y_pred = self.predict(X)  # type: ignore[attr-defined]  # the estimator's, as sklearn
            if y_true.ndim == 2 and y_true.shape[1] == 1:
                y_true = y_true.ravel()
            hits = y_pred == y_true
            if hits.ndim == 2:
                hits = hits.all(axis=1)
            return float(np.average(hits, weights=sample_weight))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except Exception:
        return False


def _check_X(X: Any, min_samples: int = 1) -> np.ndarray:
    """Validation of X without scikit-learn, with scikit-learn's messages."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            "Sparse data was passed for X, but dense data is required. "
            "Use '.toarray()' to convert to a dense numpy array."
        )
    array = np.asarray(X)
    if array.dtype.kind == "c":
        raise ValueError("Complex data not supported")
    if array.dtype.kind == "O":
        array = array.astype(np.float64)  # TypeError naming the bad element
    if array.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {array.ndim}D array instead: X has shape {array.shape}. "
            "Reshape your data with array.reshape(-1, 1) for a single feature or "
            "array.reshape(1, -1) for a single sample."
        )
    if array.shape[0] < min_samples:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of "
            f"{min_samples} is required."
        )
    if array.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("Input X contains NaN or infinity.")
    return array
