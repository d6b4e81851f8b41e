"""scikit-learn's MLPClassifier run from given initial weights: the oracle of issue 15.

``twin_fit`` fits an MLPClassifier(activation="tanh") for a given number of
epochs starting from our parameters (W1 is (hidden, features); scikit-learn's
coefs_[0] is its transpose), with shuffling and early stopping off, and returns
its loss_curve_ and final weights in our layout.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from twolayer._params import Layout, initial_parameters

N = 103  # samples: batches of 20 leave a short last batch of 3


def labels_for(Y: np.ndarray, output: str) -> np.ndarray:
    """scikit-learn's y for our Y (outputs x samples): 0/1 labels, class index or indicator."""
    if output == "softmax":
        return np.argmax(Y, axis=0)
    return Y[0].astype(int) if Y.shape[0] == 1 else Y.T.astype(int)


def twin_fit(
    X: np.ndarray,
    Y: np.ndarray,
    params: dict[str, np.ndarray],
    epochs: int,
    *,
    output: str = "sigmoid",
    sample_weight: np.ndarray | None = None,
    solver: str = "sgd",
    learning_rate: float = 0.1,
    schedule: str = "constant",
    power_t: float = 0.5,
    momentum: float = 0.0,
    nesterovs_momentum: bool = False,
    alpha: float = 0.0,
    batch_size: int | None = None,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(loss_curve_, final parameters) of scikit-learn's fit from ``params``."""
    n = X.shape[1]
    y = labels_for(Y, output)
    mlp = MLPClassifier(
        hidden_layer_sizes=(params["W1"].shape[0],), activation="tanh", solver=solver,
        learning_rate_init=learning_rate, learning_rate=schedule, power_t=power_t,
        momentum=momentum, nesterovs_momentum=nesterovs_momentum, alpha=alpha,
        batch_size=n if batch_size is None else batch_size, beta_1=beta_1, beta_2=beta_2,
        epsilon=epsilon, shuffle=False, early_stopping=False, tol=0.0,
        n_iter_no_change=epochs + 10, max_iter=1, warm_start=True, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X.T, y)  # sets up classes, output activation and the bookkeeping
        expected = "softmax" if output == "softmax" else "logistic"
        assert mlp.out_activation_ == expected, (mlp.out_activation_, output)
        # Start again from our weights: warm_start keeps them, a new fit resets the optimizer.
        mlp.coefs_ = [params["W1"].T.copy(), params["W2"].T.copy()]
        mlp.intercepts_ = [params["b1"].ravel().copy(), params["b2"].ravel().copy()]
        mlp.loss_curve_, mlp.n_iter_, mlp.t_ = [], 0, 0
        mlp.best_loss_, mlp._no_improvement_count = np.inf, 0
        mlp.max_iter = epochs
        mlp.fit(X.T, y, sample_weight=sample_weight)
    assert mlp.n_iter_ == epochs
    final = {
        "W1": mlp.coefs_[0].T, "b1": mlp.intercepts_[0][:, None],
        "W2": mlp.coefs_[1].T, "b2": mlp.intercepts_[1][:, None],
    }
    return np.asarray(mlp.loss_curve_), final


def classification_data(
    n_features: int, n_samples: int, n_outputs: int, output: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """X (features x samples) and hard 0/1 targets Y (outputs x samples) from a random teacher.

    softmax: one-hot rows; sigmoid: independent labels (multilabel when n_outputs > 1).
    Every class occurs, so scikit-learn sees the same number of outputs.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_features, n_samples))
    scores = rng.standard_normal((n_outputs, n_features)) @ X
    scores += 0.5 * rng.standard_normal(scores.shape)
    if output == "softmax":
        Y = np.zeros((n_outputs, n_samples))
        Y[np.argmax(scores, axis=0), np.arange(n_samples)] = 1.0
        Y[:, :n_outputs] = np.eye(n_outputs)  # every class present
    else:
        Y = (scores > 0).astype(float)
        Y[:, 0], Y[:, 1] = 0.0, 1.0  # both labels present in every output
    return X, Y


# Option sets held against scikit-learn ("nesterov": sgd with nesterovs_momentum).
CASES = {
    "binary-sgd": dict(n_outputs=1, output="sigmoid", solver="sgd", learning_rate=0.3),
    "binary-momentum-l2": dict(n_outputs=1, output="sigmoid", solver="sgd", momentum=0.9,
                               alpha=0.3, batch_size=20, learning_rate=0.05),
    "multilabel-nesterov": dict(n_outputs=3, output="sigmoid", solver="nesterov",
                                momentum=0.9, batch_size=20, learning_rate=0.05),
    "multiclass-sgd": dict(n_outputs=4, output="softmax", solver="sgd", batch_size=20,
                           learning_rate=0.1),
    "multiclass-adam-l2": dict(n_outputs=3, output="softmax", solver="adam", alpha=0.1,
                               batch_size=20, learning_rate=0.01),
    "binary-adam-invscaling-params": dict(n_outputs=1, output="sigmoid", solver="adam",
                                          batch_size=7, learning_rate=0.02, beta_1=0.8,
                                          beta_2=0.99, epsilon=1e-6),
    "multilabel-invscaling": dict(n_outputs=2, output="sigmoid", solver="sgd", momentum=0.5,
                                  batch_size=25, learning_rate=0.5, schedule="invscaling",
                                  power_t=0.3),
}


def case_data(case: str, weighted: bool):
    """X, Y, initial params, sample weights (or None) and the options of CASES[case]."""
    opts = dict(CASES[case])
    n_outputs = opts.pop("n_outputs")
    X, Y = classification_data(4, N, n_outputs, opts["output"], seed=len(case))
    layout = Layout(4, 5, n_outputs)
    params = layout.unpack(initial_parameters(layout, np.float64, 7))
    weights = None
    if weighted:
        weights = np.random.default_rng(1).uniform(0.0, 2.0, N)
        weights[::10] = 0.0  # zero weights inside batches (never a whole batch)
    return X, Y, params, weights, opts
