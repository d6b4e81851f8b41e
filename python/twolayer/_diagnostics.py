"""Why a finished fit may have learned nothing: saturation and a flat cost.

On unscaled data (breast-cancer features up to ~2500) every tanh unit sits at
+-1 from the first update, its gradient vanishes, and the cost stays at the
entropy of the class frequencies: the network predicts the majority class.
Standardised, the same data trains to 100%. These checks say so instead of
ending silently.
"""

from __future__ import annotations

import numpy as np

# A hidden activation beyond this is saturated (tanh' < 0.02)...
_SATURATED_ACTIVATION = 0.99
# ...and the layer is saturated when this share of all its activations are.
# Well-trained networks on scaled data stay below ~0.75 (moons 0.29, breast
# cancer 0.52, iris 0.69); raw breast cancer, iris, wine: 1.00, raw digits 0.99.
SATURATED_SHARE = 0.95
# The cost is flat when it ends within 1% of the cost of predicting every sample's
# class frequencies (what a network that learned nothing from X converges to).
_FLAT = 0.99
# The check looks at up to this many samples (evenly spaced): one cheap forward pass.
_MAX_SAMPLES = 4096


def saturated_share(params: dict[str, np.ndarray], X: np.ndarray) -> float:
    """Share of the hidden activations beyond +-0.99 on X (features, samples)."""
    step = max(1, X.shape[1] // _MAX_SAMPLES)
    X = X[:, ::step]
    with np.errstate(over="ignore", invalid="ignore"):
        hidden = np.tanh(params["W1"] @ X + params["b1"])
    return float(np.mean(np.abs(hidden) > _SATURATED_ACTIVATION))


def baseline_cost(Y: np.ndarray) -> float:
    """Cross-entropy of predicting each output's mean: what learning nothing from X gives."""
    mean = np.clip(Y.mean(axis=1), 1e-12, 1 - 1e-12)
    return float(np.sum(-(mean * np.log(mean) + (1 - mean) * np.log1p(-mean))))


def fit_problem(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    costs: np.ndarray,
    *,
    flat_cost: bool = True,
) -> str | None:
    """What went wrong in a finished fit, as a sentence, or None when nothing did.

    X (features, samples) and Y (outputs, samples) in the functional layout.
    ``flat_cost=False`` checks the saturation only.
    """
    if X.shape[1] == 0 or costs.size == 0:
        return None
    share = saturated_share(params, X)
    if share >= SATURATED_SHARE:
        return (
            f"training ended with the hidden layer saturated ({share:.0%} of the tanh "
            f"outputs beyond +-{_SATURATED_ACTIVATION}, where their gradient vanishes)"
        )
    baseline = baseline_cost(Y)
    if flat_cost and costs.size > 1 and float(costs[-1]) >= _FLAT * baseline:
        return (
            f"training ended with the cost flat at {float(costs[-1]):.4g}, the cost of "
            f"predicting the class frequencies ({baseline:.4g}): nothing was learned from X"
        )
    return None
