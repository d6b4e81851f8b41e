"""Built-in data, so the demo and the tests need nothing but NumPy."""

from __future__ import annotations

import numpy as np


def make_moons(
    n_samples: int = 500, noise: float = 0.2, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, in the tutorial's layout.

    The same construction as scikit-learn's ``make_moons`` (outer moon first,
    then inner moon, Gaussian noise), drawn from a private generator.

    Returns X of shape (2, n_samples) and Y of shape (1, n_samples) with 0/1 labels.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    rng = np.random.RandomState(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    angle_out = np.linspace(0, np.pi, n_out)
    angle_in = np.linspace(0, np.pi, n_in)
    X = np.vstack(
        [
            np.concatenate([np.cos(angle_out), 1 - np.cos(angle_in)]),
            np.concatenate([np.sin(angle_out), 1 - np.sin(angle_in) - 0.5]),
        ]
    )
    X += rng.normal(scale=noise, size=X.shape)
    Y = np.concatenate([np.zeros(n_out), np.ones(n_in)]).reshape(1, -1)
    return X, Y
