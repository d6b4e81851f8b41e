"""Every SIMD build of the Cython kernels this CPU can run agrees with the reference."""

import importlib
import importlib.util

import numpy as np
import pytest

from support import VARIANTS, relative_error
from twolayer import _cpu
from twolayer._params import Layout, initial_parameters


@pytest.mark.parametrize("forced", ["baseline", "avx2"])
def test_forcing_a_narrower_build(forced, monkeypatch):
    monkeypatch.setenv("TWOLAYER_CPU_FEATURES", forced)
    selected = _cpu.selected_variant()
    if forced == "baseline":
        assert selected == _cpu._BASE
    else:
        assert not selected.endswith("_avx512")


@pytest.mark.parametrize("module_name", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_variant_matches_reference(module_name, dtype, moons):
    kernels = importlib.import_module(module_name)
    reference = importlib.import_module("twolayer._reference")
    X, Y = (a.astype(dtype) for a in moons)
    layout = Layout(2, 5, 1)
    results = []
    for module in (reference, kernels):
        theta = initial_parameters(layout, np.dtype(dtype), 3)
        costs = np.empty(500, dtype)
        assert module.train_chunk(X, Y, theta, 0.3, costs, 1) == 500
        results.append((theta, costs))
    (ref_theta, ref_costs), (theta, costs) = results
    tol = 1e-11 if dtype == np.float64 else 1e-4
    assert relative_error(costs, ref_costs) < tol
    assert relative_error(theta, ref_theta) < tol
