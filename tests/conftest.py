import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import twolayer
from twolayer.datasets import make_moons

COMPILED = [b for b in ("cython", "numba") if b in twolayer.available_backends()]


def relative_error(actual, expected):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = max(np.max(np.abs(expected)), np.finfo(float).tiny)
    return float(np.max(np.abs(actual - expected)) / scale)


def assert_params_close(actual, expected, rtol):
    assert set(actual) == {"W1", "b1", "W2", "b2"}
    for key in expected:
        assert actual[key].shape == expected[key].shape, key
        err = relative_error(actual[key], expected[key])
        assert err <= rtol, f"{key}: relative error {err:.3g} > {rtol:.1g}"


@pytest.fixture(scope="session")
def moons():
    """The tutorial's data: two moons, 500 samples, noise 0.2 (fixed seed)."""
    return make_moons(n_samples=500, noise=0.2, seed=0)
