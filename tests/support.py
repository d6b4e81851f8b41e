"""Helpers shared by the test modules (imported as ``support``: pytest puts tests/ on
the path, as for conftest.py); fixtures stay in conftest.py."""

import importlib.util
import os

import numpy as np

import twolayer
from twolayer import _cpu
from twolayer._geometry import BLOCK  # samples per block of the compiled kernels

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


# (n_features, hidden, n_outputs, n_samples)
SHAPES = [
    (1, 1, 1, 1),  # one sample, one hidden unit
    (2, 5, 1, 500),  # the tutorial's shape
    (3, 1, 1, 65),  # one hidden unit, a ragged second tile
    (7, 9, 3, 130),  # several outputs, odd feature count
    (2, 4, 2, BLOCK + 77),  # more than one block, ragged last block
    (20, 16, 1, 3 * BLOCK),
    (77, 6, 2, 150),  # wide inputs: feature rows in chunks of 32, a ragged last chunk
]


def problem(n_features, n_outputs, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_features, n_samples))
    logits = rng.normal(size=(n_outputs, n_features)) @ X
    Y = (logits + rng.normal(size=logits.shape) > 0).astype(float)
    return X, Y


# Written out here, not read from twolayer._cpu's tables: the test must fail if those
# tables (or the selection) are wrong. Widest first; the CPU flags each build needs
# (as Linux's /proc/cpuinfo names them; AVX2's builds also use FMA).
BUILDS = [
    ("twolayer._cython_kernels_avx512", "avx512",
     {"avx512f", "avx512dq", "avx512vl", "avx2", "fma"}),
    ("twolayer._cython_kernels_avx2", "avx2", {"avx2", "fma"}),
    ("twolayer._cython_kernels", "baseline", set()),
]  # fmt: skip


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(set(line.split(":", 1)[1].split()) for line in fh
                        if line.startswith("flags"))  # fmt: skip
    except (OSError, StopIteration):  # not Linux: NumPy's detection, named alike
        return {k.lower().replace("fma3", "fma") for k, v in _cpu._cpu_features().items() if v}


def _runnable_variants():
    flags, levels = _cpu_flags(), [level for _, level, _ in BUILDS]
    forced = os.environ.get("TWOLAYER_CPU_FEATURES", "").strip().lower()
    for name, level, needs in BUILDS:
        narrow_enough = forced not in levels or levels.index(level) >= levels.index(forced)
        if importlib.util.find_spec(name) and needs <= flags and narrow_enough:
            yield name


VARIANTS = list(_runnable_variants())
