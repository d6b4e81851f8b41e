"""twolayer: fast, reproducible training of two-layer tanh/sigmoid networks.

    params, costs = twolayer.fit(X, Y, learning_rate, hidden_size, number_of_iterations)

X is (n_features, n_samples) and Y is (n_outputs, n_samples), as in the
tutorial this package starts from. Backends: "numpy" (the reference),
"cython" and "numba" (compiled kernels); see ``available_backends()``.
"""

from ._backends import BACKENDS, available_backends
from ._training import DivergenceError, fit, predict, predict_proba

__version__ = "0.1.0"
__all__ = [
    "BACKENDS",
    "DivergenceError",
    "available_backends",
    "fit",
    "predict",
    "predict_proba",
]
