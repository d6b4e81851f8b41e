"""Weights between ``twolayer.fit``'s params and a fitted scikit-learn MLPClassifier.

scikit-learn keeps ``coefs_ = [W1.T, W2.T]`` (features x hidden, hidden x outputs)
and ``intercepts_ = [b1, b2]`` as 1-D arrays; ``fit`` returns W1 (hidden x
features), b1 (hidden x 1), W2 (outputs x hidden), b2 (outputs x 1). The values
are copied unchanged, so a round trip is exact. scikit-learn is imported only by
``to_sklearn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validation as v


def params_from_sklearn(mlp: Any) -> dict[str, np.ndarray]:
    """``{"W1", "b1", "W2", "b2"}`` of a fitted MLPClassifier (scikit-learn's or
    ``twolayer.sklearn``'s) with one tanh hidden layer, or of a ``TwoLayerClassifier``,
    as ``twolayer.fit`` returns them.

    A multiclass model (``mlp.out_activation_ == "softmax"``) predicts with
    ``twolayer.predict_proba(params, X, output="softmax")``; binary and multi-label
    models with the default sigmoid output.
    """
    coefs = getattr(mlp, "coefs_", None)
    intercepts = getattr(mlp, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise ValueError(
            f"params_from_sklearn needs a fitted MLPClassifier (with coefs_ and intercepts_), "
            f"got an unfitted {type(mlp).__name__}"
        )
    if len(coefs) != 2 or len(intercepts) != 2:
        raise ValueError(
            f"params_from_sklearn: twolayer networks have one hidden layer, this "
            f"{type(mlp).__name__} has {len(coefs) - 1}"
        )
    from .estimator import TwoLayerClassifier  # tanh hidden units, no activation parameter

    activation = "tanh" if isinstance(mlp, TwoLayerClassifier) else getattr(mlp, "activation", None)
    if activation != "tanh":
        raise ValueError(
            f"params_from_sklearn: twolayer networks have tanh hidden units, this "
            f"{type(mlp).__name__} has activation={activation!r}"
        )
    (W1, W2), (b1, b2) = coefs, intercepts
    params = {
        "W1": np.array(W1.T, order="C"),
        "b1": np.array(b1, order="C").reshape(-1, 1),
        "W2": np.array(W2.T, order="C"),
        "b2": np.array(b2, order="C").reshape(-1, 1),
    }
    return v.check_params(params)


def to_sklearn(
    params: dict[str, np.ndarray],
    classes: Any,
    *,
    multilabel: bool = False,
    estimator: Any = None,
) -> Any:
    """A fitted MLPClassifier that predicts with ``params``.

    classes : the class labels in sorted order (``classes_``), one per output. Two
        classes need one output (sigmoid); K > 2 classes need K outputs, which
        scikit-learn reads as one softmax (so a one-vs-rest model of
        ``TwoLayerClassifier`` keeps its ``predict`` but not its probabilities).
    multilabel : the K outputs are independent sigmoid labels of a 0/1 indicator
        matrix (``classes`` is then ``range(K)``, scikit-learn's ``classes_``).
    estimator : an unfitted ``sklearn.neural_network.MLPClassifier`` or
        ``twolayer.sklearn.MLPClassifier`` whose hyperparameters to keep (e.g. for
        a ``partial_fit`` or warm start from these weights); default scikit-learn's
        with ``hidden_layer_sizes=(hidden,)`` and ``activation="tanh"``.
        Its activation must be "tanh". It is modified and returned.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelBinarizer

    p = v.check_params(params)
    hidden, n_features = p["W1"].shape
    n_outputs = p["W2"].shape[0]
    classes = np.asarray(classes)
    if classes.ndim != 1 or not np.array_equal(np.unique(classes), classes):
        raise ValueError(
            f"classes must be distinct labels in sorted order (as classes_), got {classes!r}"
        )
    if multilabel:
        expected = classes.size
    else:
        if classes.size < 2:
            raise ValueError(f"classes must hold at least 2 labels, got {classes.size}")
        expected = 1 if classes.size == 2 else classes.size
    if n_outputs != expected:
        raise ValueError(
            f"params have {n_outputs} outputs; {classes.size} classes"
            f"{' (multi-label)' if multilabel else ''} need {expected}"
        )
    mlp = MLPClassifier((hidden,), activation="tanh") if estimator is None else estimator
    if not isinstance(mlp, MLPClassifier):
        raise TypeError(f"estimator must be an MLPClassifier, got {type(mlp).__name__}")
    if mlp.activation != "tanh":
        raise ValueError(f"estimator must have activation='tanh', got {mlp.activation!r}")
    binarizer = LabelBinarizer()
    if multilabel:
        binarizer.fit(np.eye(classes.size, dtype=int))
    else:
        binarizer.fit(classes)
    mlp.set_params(hidden_layer_sizes=(hidden,))
    mlp._label_binarizer = binarizer
    mlp.classes_ = binarizer.classes_
    mlp.coefs_ = [np.array(p["W1"].T, order="C"), np.array(p["W2"].T, order="C")]
    mlp.intercepts_ = [p["b1"][:, 0].copy(), p["b2"][:, 0].copy()]
    mlp.n_features_in_ = n_features
    mlp.n_outputs_ = n_outputs
    mlp.n_layers_ = 3
    mlp.out_activation_ = "softmax" if not multilabel and classes.size > 2 else "logistic"
    _reset_training_state(mlp)
    return mlp


def _reset_training_state(mlp: Any) -> None:
    """The attributes scikit-learn's ``_initialize`` sets besides the weights, so that
    ``partial_fit`` and a warm-started ``fit`` can continue from these weights."""
    mlp.n_iter_ = 0
    mlp.t_ = 0
    mlp.loss_curve_ = []
    mlp._no_improvement_count = 0
    mlp._best_coefs = [c.copy() for c in mlp.coefs_]
    mlp._best_intercepts = [b.copy() for b in mlp.intercepts_]
    if mlp.early_stopping:
        mlp.validation_scores_, mlp.best_validation_score_, mlp.best_loss_ = [], -np.inf, None
    else:
        mlp.validation_scores_, mlp.best_validation_score_, mlp.best_loss_ = None, None, np.inf
