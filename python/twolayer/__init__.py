"""twolayer: fast, reproducible training of two-layer tanh/sigmoid networks.

    params, costs = twolayer.fit(X, Y, learning_rate, hidden_size, number_of_iterations)

X is (n_features, n_samples) and Y is (n_outputs, n_samples), as in the
tutorial this package starts from. Backends: "numpy" (the reference),
"cython" and "numba" (compiled kernels); see ``available_backends()``.
"""

import typing as _typing

from ._api import fit, predict, predict_proba
from ._backends import BACKENDS, available_backends
from ._errors import DivergenceError
from ._io import ModelFileError, load, save
from ._show_config import show_config
from ._version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from ._convert import params_from_sklearn, to_sklearn
    from .estimator import TwoLayerClassifier

__all__ = [
    "BACKENDS",
    "DivergenceError",
    "ModelFileError",
    "TwoLayerClassifier",
    "available_backends",
    "fit",
    "load",
    "params_from_sklearn",
    "predict",
    "predict_proba",
    "save",
    "show_config",
    "to_sklearn",
]


def __getattr__(name: str) -> object:
    # The estimator module imports scikit-learn when it is installed (to derive
    # from its base classes); loading it on first use keeps ``import twolayer``
    # free of scikit-learn and as fast as before.
    if name == "TwoLayerClassifier":
        from .estimator import TwoLayerClassifier

        return TwoLayerClassifier
    if name in ("params_from_sklearn", "to_sklearn"):  # scikit-learn <-> params converters
        from . import _convert

        return getattr(_convert, name)
    raise AttributeError(f"module 'twolayer' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The API only: not the submodules, helpers and imports that live in this namespace.
    return sorted(__all__)
