"""Loading the compiled backends: no import can crash the interpreter, and a
backend that cannot load is left out (with its reason) instead of failing fit."""

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import twolayer
from twolayer import _backends, _cpu

WIDE = [
    (_cpu._BASE + suffix, suffix.lstrip("_"))
    for suffix, _ in _cpu._VARIANTS
    if suffix and importlib.util.find_spec(_cpu._BASE + suffix)
]


def _python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.mark.parametrize(("module", "level"), WIDE)
def test_a_wide_build_refuses_to_import_on_a_cpu_without_its_instructions(module, level):
    # The guard honours TWOLAYER_CPU_FEATURES as if the CPU stopped below `level`:
    # the import must raise ImportError (exit 1), never die of SIGILL (exit -4).
    below = "baseline" if level == "avx2" else "avx2"
    out = _python(f"import {module}", TWOLAYER_CPU_FEATURES=below)
    assert out.returncode == 1, out.stderr
    assert f"ImportError: {module} is disabled by TWOLAYER_CPU_FEATURES={below}" in out.stderr


def test_the_guard_lets_the_build_load_when_the_cpu_has_it():
    # This machine has AVX-512 (COMMON.md); the widest build's real module loads.
    states = _cpu.variant_states()
    loaded = [name for name, state in states.items() if state == "loads"]
    assert loaded, states
    module = __import__(loaded[0], fromlist=["train_chunk"])
    assert callable(module.train_chunk)


def test_importing_every_module_never_crashes():
    # What doctest collection or a documentation build does, on a "CPU" with
    # only the baseline build: every module imports or raises ImportError.
    code = (
        "import importlib, json, pkgutil, twolayer\n"
        "names = [m.name for m in pkgutil.walk_packages(twolayer.__path__, 'twolayer.')]\n"
        "refused = []\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError:\n"
        "        refused.append(name)\n"
        "print(json.dumps([len(names), refused]))\n"
        "from twolayer import _cpu\n"
        "print(_cpu.selected_variant())\n"
    )
    out = _python(code, TWOLAYER_CPU_FEATURES="baseline")
    assert out.returncode == 0, out.stderr
    count, refused = json.loads(out.stdout.splitlines()[0])
    assert count == len(list(pkgutil.walk_packages(twolayer.__path__, "twolayer.")))
    assert set(refused) == {name for name, _ in WIDE}
    assert out.stdout.splitlines()[1] == _cpu._BASE


def test_a_backend_that_cannot_load_is_not_listed_and_auto_falls_back(moons, backend_cannot_load):
    backend_cannot_load("cython", "libgomp.so.1: cannot open shared object file: No such file")
    X, Y = moons
    assert "cython" not in twolayer.available_backends()
    assert _backends.resolve_backend("auto") == "numba"
    costs = twolayer.fit(X, Y, 0.3, 5, 20)[1]
    reference = twolayer.fit(X, Y, 0.3, 5, 20, backend="numpy")[1]
    assert abs(costs[-1] - reference[-1]) < 1e-12
    assert "libgomp.so.1" in _backends.unavailable_reason("cython")
    with pytest.raises(ValueError, match=r"backend 'cython' is not available.*libgomp\.so\.1"):
        twolayer.fit(X, Y, 0.3, 5, 20, backend="cython")


def test_prediction_follows_the_backend_resolution(moons, backend_cannot_load):
    # predict caches forward_chunk per resolved name: once "auto" resolves elsewhere, the
    # warm cache of the old backend must not be used, and a backend that fails is refused.
    from twolayer import _predict

    X, Y = moons
    params = twolayer.fit(X, Y, 0.3, 5, 20, backend="numpy")[0]
    expected = twolayer.predict_proba(params, X, backend="numpy")
    assert _predict._forward_for("auto") is _backends.load_backend("cython").forward_chunk
    backend_cannot_load("cython", "libgomp.so.1: cannot open shared object file")
    assert _predict._forward_for("auto") is _backends.load_backend("numba").forward_chunk
    np.testing.assert_allclose(twolayer.predict_proba(params, X), expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"backend 'cython' is not available.*libgomp"):
        twolayer.predict_proba(params, X, backend="cython")


def test_backend_resolution_is_cached():
    first = _backends.resolve_backend("auto")
    assert _backends._RESOLVED["auto"] == first
    assert _backends.resolve_backend("auto") is first
    assert _backends.load_backend(first) is _backends.load_backend(first)
