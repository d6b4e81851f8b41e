"""Class labels <-> network targets and outputs, without scikit-learn.

Shared by ``TwoLayerClassifier`` and the command line (which must not import
scikit-learn to train or predict). One sigmoid output per class (one for two
classes), or one per label of a 0/1 indicator matrix (multi-label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _validation as v
from ._reference import sigmoid


def _as_label_array(y: Any, n_samples: int) -> np.ndarray:
    if type(y).__module__.startswith("scipy.sparse"):
        raise TypeError("Sparse y is not supported; use y.toarray()")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()  # a column vector is a 1-D target
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D labels or a 2-D indicator matrix, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"X has {n_samples}, y has {y.shape[0]}"
        )
    if y.dtype.kind == "c":
        raise ValueError("Complex data not supported in y")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")
    if y.dtype.kind == "O":
        floats = [v for v in y.ravel() if isinstance(v, (float, np.floating))]
        if any(not np.isfinite(v) for v in floats):
            raise ValueError("Input y contains NaN or infinity.")
    return y


def _label_kind(y: np.ndarray) -> str:
    if y.ndim == 2:
        if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
            raise ValueError(
                "Unknown label type: multiclass-multioutput. A 2-D y must be a 0/1 "
                "indicator matrix (multi-label); use 1-D labels for multiclass"
            )
        return "multilabel"
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        raise ValueError(
            "Unknown label type: continuous. TwoLayerClassifier needs class labels in y, "
            "not continuous values"
        )
    return "labels"


def _fit_targets(
    y: Any, n_samples: int, classes: np.ndarray | None
) -> tuple[str, np.ndarray, np.ndarray]:
    """(kind, classes_, Y of shape (n_outputs, n_samples)) for a first fit."""
    y = _as_label_array(y, n_samples)
    if _label_kind(y) == "multilabel":
        classes_ = np.arange(y.shape[1])
        return "multilabel", classes_, np.ascontiguousarray(y.T, dtype=np.float64)
    kind, classes_ = class_kind(
        [y if classes is None else np.asarray(classes)],
        mixed="y mixes label types that cannot be sorted (e.g. strings and numbers)",
        needs="TwoLayerClassifier needs samples of at least 2 classes in y",
    )
    return (kind, classes_, *_encode_targets(y, n_samples, kind, classes_)[1:])


def class_kind(
    labels: Sequence[np.ndarray], *, mixed: str, needs: str
) -> tuple[str, np.ndarray]:
    """("binary" or "multiclass", the sorted distinct labels) of a first fit's labels
    (one array, or one per MPI rank).

    Refuses labels that cannot be sorted together (TypeError ``mixed``) and a
    single class (ValueError starting with ``needs``); fit and the MPI ranks'
    agreement word these for their callers.
    """
    try:
        classes_ = np.unique(np.concatenate(labels))
    except TypeError:  # also numpy's DTypePromotionError
        raise TypeError(mixed) from None
    if classes_.size < 2:
        raise ValueError(f"{needs}; got 1 class ({classes_[0]!r})")
    return ("binary" if classes_.size == 2 else "multiclass"), classes_


def _encode_targets(
    y: Any, n_samples: int, kind: str, classes_: np.ndarray
) -> tuple[str, np.ndarray]:
    """Targets of a continued fit, checked against the classes of the first one."""
    y = _as_label_array(y, n_samples)
    if kind == "multilabel":
        if _label_kind(y) != "multilabel" or y.shape[1] != classes_.size:
            raise ValueError(
                f"y must be a 0/1 indicator matrix with {classes_.size} columns, "
                f"as in the first fit; got shape {y.shape}"
            )
        return kind, np.ascontiguousarray(y.T, dtype=np.float64)
    if _label_kind(y) == "multilabel":
        raise ValueError("y is a 2-D indicator matrix but the first fit had 1-D class labels")
    unknown = np.setdiff1d(np.unique(y), classes_)
    if unknown.size:
        raise ValueError(f"y contains labels {unknown.tolist()} not in classes {classes_.tolist()}")
    if kind == "binary":
        return kind, (y == classes_[1]).astype(np.float64).reshape(1, -1)
    return kind, (y[np.newaxis, :] == classes_[:, np.newaxis]).astype(np.float64)


def _encode_local(y: np.ndarray, kind: str, classes_: np.ndarray) -> np.ndarray:
    """This rank's targets (n_outputs, n_local) for the agreed kind and classes."""
    if y.shape[0] == 0:
        n_outputs = 1 if kind == "binary" else classes_.size
        return np.zeros((n_outputs, 0))
    return _encode_targets(y, y.shape[0], kind, classes_)[1]


def _validation_split(
    Y: np.ndarray, kind: str, fraction: Any, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation); stratified by class for single-label targets."""
    v.check_fraction(fraction, "validation_fraction")
    n = Y.shape[1]
    rng = np.random.RandomState(seed)
    if kind == "multilabel":
        groups = [np.arange(n)]
    elif kind == "binary":
        groups = [np.flatnonzero(Y[0] == 0), np.flatnonzero(Y[0] == 1)]
    else:
        groups = [np.flatnonzero(row == 1) for row in Y]
    val = []
    for group in groups:
        take = min(round(float(fraction) * group.size), group.size - 1)
        val.append(rng.permutation(group)[:take])
    val_idx = np.sort(np.concatenate(val))
    if val_idx.size == 0:
        raise ValueError(
            f"early_stopping: validation_fraction={fraction} of {n} samples leaves no "
            "validation sample; use more data or a larger fraction"
        )
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    return train_idx, val_idx


def class_probabilities(Z: np.ndarray, kind: str) -> np.ndarray:
    """Probabilities (n_samples, n_classes) from logits Z (n_samples, n_outputs).

    Binary: ``[1 - p, p]``. Multiclass: the one-vs-rest sigmoids normalised to
    sum to 1 per row. Softmax (multiclass with one softmax output): the softmax
    of each row. Multi-label: the independent sigmoid of each label.
    """
    with np.errstate(over="ignore", under="ignore"):
        if kind == "binary":
            return np.column_stack([sigmoid(-Z[:, 0]), sigmoid(Z[:, 0])])
        if kind == "multilabel":
            return sigmoid(Z)
        if kind == "softmax":
            e = np.exp(Z - Z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        # log sigmoid(z) = -log(1 + exp(-z)); normalise in log space so that
        # rows whose sigmoids all underflow still sum to 1.
        log_p = -np.logaddexp(0, -Z)
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=1, keepdims=True)


def class_labels(Z: np.ndarray, kind: str, classes: np.ndarray) -> np.ndarray:
    """Labels (n_samples,) from logits Z, or the 0/1 indicator matrix for multi-label."""
    if kind == "binary":
        return classes[(Z[:, 0] > 0).astype(np.intp)]
    if kind == "multilabel":
        return (Z > 0).astype(np.int64)
    return classes[np.argmax(Z, axis=1)]


def logits(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Output logits (n_samples, n_outputs) for X (n_samples, n_features), on the kernels.

    X is converted to the parameters' dtype first, as the estimator does.
    """
    from . import _predict

    X = X.astype(params["W1"].dtype, copy=False)
    return _predict.outputs(params, X.T, _predict.LOGITS, samples_first=True).T
