"""The Numba backend against the Cython backend it mirrors; its cache, threads and the GIL.

test_parity.py and test_layouts.py already hold every compiled backend against
the NumPy reference and check thread-count invariance; here numba is held
against cython directly. The comparison is with the C build that rounds as
Numba does: both fuse a multiply-add exactly where the source says fma
(``tl_fma`` / ``_fma``), with FMA instructions where the CPU has them (the
AVX2/AVX-512 builds) and as two roundings where it does not (the baseline
build); neither compiler fuses anything else. The two then agree bit for bit,
in float32 too, whether this process compiled Numba's code or loaded it from
the cache. In float64 numba is also held against the build that runs here.
The Numba-specific machinery is exercised too: the on-disk cache with a
read-only package directory, and the GIL released during a chunk.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import twolayer
from support import BLOCK, SHAPES, assert_params_close, in_layout, relative_error
from support import problem as _problem
from twolayer import _geometry as geometry
from twolayer._backends import load_backend
from twolayer._cpu import _cpu_features, variant_states
from twolayer._params import Layout, initial_parameters

RTOL = 1e-10


def _same_rounding():
    """The C build whose rounding Numba's code has on this CPU (see the module docstring)."""
    if _cpu_features().get("FMA3", False):
        return importlib.import_module("twolayer._cython_kernels_avx2")
    return importlib.import_module("twolayer._cython_kernels")


def _fit_with(kernels, X, Y, learning_rate, hidden, iterations, seed=3):
    """fit() on a given kernel module: one train_chunk call from the tutorial's start."""
    layout = Layout(X.shape[0], hidden, Y.shape[0])
    theta = initial_parameters(layout, X.dtype, seed)
    costs = np.empty(iterations, dtype=X.dtype)
    assert kernels.train_chunk(X, Y, theta, learning_rate, costs, 1) == iterations
    return layout.unpack(theta), costs


def test_both_compiled_backends_are_installed():
    # Numba is a dependency and the extension is built on install: no silent skips below.
    assert {"cython", "numba"} <= set(twolayer.available_backends())


def test_every_build_has_the_geometry_of_its_one_owner():
    # twolayer._geometry defines it; CMake compiles it into every build, Numba imports it.
    # Every build that loads here (TWOLAYER_CPU_FEATURES may leave out the wide ones).
    runnable = [name for name, state in variant_states().items() if state == "loads"]
    assert "twolayer._cython_kernels" in runnable
    numba_kernels = load_backend("numba")
    for name in runnable:
        cython_kernels = importlib.import_module(name)
        for name in ("TILE", "LANES", "TILES_PER_BLOCK", "BLOCK", "FEATURE_CHUNK"):
            expected = getattr(geometry, name)
            assert getattr(cython_kernels, name) == getattr(numba_kernels, name) == expected, name
    assert geometry.BLOCK == BLOCK == geometry.TILE * geometry.TILES_PER_BLOCK


@pytest.mark.parametrize("order", ["C", "F", "sliced"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n_features", "hidden", "n_outputs", "n_samples"), SHAPES)
def test_fit_matches_cython(n_features, hidden, n_outputs, n_samples, dtype, order):
    X, Y = _problem(n_features, n_outputs, n_samples, seed=7)
    X = in_layout(X.astype(dtype), order)
    Y = in_layout(Y.astype(dtype), order)
    iterations = 300 if n_samples < BLOCK else 40
    expected, expected_costs = _fit_with(_same_rounding(), X, Y, 0.5, hidden, iterations)
    params, costs = twolayer.fit(X, Y, 0.5, hidden, iterations, backend="numba")
    assert costs.dtype == expected_costs.dtype == dtype
    assert np.all(np.isfinite(costs))
    np.testing.assert_array_equal(costs, expected_costs)  # same rounding: bit for bit
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])
    for key in params:
        assert params[key].dtype == dtype
    if dtype == np.float64:  # the build that runs here (FMA in the wide builds)
        dispatched, dispatched_costs = twolayer.fit(X, Y, 0.5, hidden, iterations, backend="cython")
        assert relative_error(costs, dispatched_costs) <= RTOL
        assert_params_close(params, dispatched, RTOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tutorial_run_matches_cython(moons, dtype):
    X, Y = (a.astype(dtype) for a in moons)
    expected, expected_costs = _fit_with(_same_rounding(), X, Y, 0.3, 5, 5000)
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend="numba")
    assert costs[-1] < 0.5 * costs[0]  # it trained
    np.testing.assert_array_equal(costs, expected_costs)
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_sums_match_cython(dtype):
    numba_kernels, cython_kernels = load_backend("numba"), _same_rounding()
    for f, h, o, n in SHAPES:
        X, Y = _problem(f, o, n, seed=8)
        X, Y = X.astype(dtype), Y.astype(dtype)
        theta = initial_parameters(Layout(f, h, o), np.dtype(dtype), 2)
        grad, expected = np.empty_like(theta), np.empty_like(theta)
        cost = numba_kernels.gradient_sums(X, Y, theta, grad, 2)
        expected_cost = cython_kernels.gradient_sums(X, Y, theta, expected, 1)
        assert isinstance(cost, float)
        assert cost == expected_cost  # same rounding: bit for bit
        np.testing.assert_array_equal(grad, expected)
        assert np.all(grad != 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_forward_matches_cython(dtype, mode):
    # Numba's last tile of a block, when it holds at most SMALL_TILE samples, is a small
    # tile (C's is a full one): every sample's outputs must still be C's, bit for bit.
    numba_kernels, cython_kernels = load_backend("numba"), _same_rounding()
    rng = np.random.default_rng(11)
    small, tile = geometry.SMALL_TILE, geometry.TILE
    for f, h, o in ((20, 64, 1), (3, 5, 4), (1, 1, 2), (40, 6, 1)):
        o = 1 if mode == 2 else o
        params = [rng.normal(size=s).astype(dtype) for s in ((h, f), (h, 1), (o, h), (o, 1))]
        X = rng.normal(size=(f, BLOCK + tile + small + 3)).astype(dtype)
        rows = 2 if mode == 2 else o
        for n in (1, small - 1, small, small + 1, tile, tile + small, tile + small + 1,
                  BLOCK + 3):  # fmt: skip
            outs = [np.full((rows, n), np.nan, dtype) for _ in range(2)]
            for kernels, out in zip((numba_kernels, cython_kernels), outs, strict=True):
                assert kernels.forward_chunk(X[:, :n], *params, out, 0, n, mode, 1) == 0
            np.testing.assert_array_equal(outs[0], outs[1])
            assert np.isfinite(outs[0]).all()
            if mode != 0:
                assert (outs[0] >= 0).all() and (outs[0] <= 1).all()


ELEMENTWISE = [
    ("tanh", (-25.0, 25.0)),
    ("tanh", (-0.7, 0.7)),
    ("exp_neg", (-750.0, 0.0)),
    ("exp_neg", (-1.0, 0.0)),
    ("log1p_unit", (0.0, 1.0)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "domain"), ELEMENTWISE)
def test_elementwise_functions_are_bitwise_those_of_cython(name, domain, dtype):
    x = np.linspace(*domain, 300_001).astype(dtype)
    out, expected = np.empty_like(x), np.empty_like(x)
    getattr(load_backend("numba"), name)(x, out)
    getattr(_same_rounding(), name)(x, expected)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_and_residual_match_cython(dtype):
    z = np.concatenate([np.linspace(-60, 60, 200_001), [0.0, -0.0, 1e4, -1e4]]).astype(dtype)
    y = np.random.default_rng(0).uniform(size=z.size).astype(dtype)
    y[::3] = np.round(y[::3])
    results = []
    for kernels in (load_backend("numba"), _same_rounding()):
        loss, residual = np.empty_like(z), np.empty_like(z)
        kernels.loss_and_residual(z, y, loss, residual)
        assert np.all(np.isfinite(loss)) and np.all(loss >= 0)
        results.append((loss, residual))
    # Both use the float exp for float32 and the double one for float64: bit for bit.
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunks_give_the_result_of_one_call(dtype):
    kernels = load_backend("numba")
    X, Y = _problem(3, 2, BLOCK + 300, seed=9)
    X, Y = X.astype(dtype), Y.astype(dtype)
    start = initial_parameters(Layout(3, 4, 2), np.dtype(dtype), 3)
    whole_theta, whole_costs = start.copy(), np.empty(30, dtype=dtype)
    assert kernels.train_chunk(X, Y, whole_theta, 0.5, whole_costs, 1) == 30
    theta, costs = start.copy(), np.empty(30, dtype=dtype)
    for lo, hi in ((0, 1), (1, 8), (8, 30)):
        assert kernels.train_chunk(X, Y, theta, 0.5, costs[lo:hi], 2) == hi - lo
    np.testing.assert_array_equal(costs, whole_costs)
    np.testing.assert_array_equal(theta, whole_theta)
    assert not np.array_equal(theta, start)


@pytest.mark.parametrize(
    ("dtype", "learning_rate"), [(np.float64, 1e308), (np.float32, 3e38), (np.float32, 1e37)]
)
def test_divergence_stops_where_cython_stops(dtype, learning_rate):
    X, Y = _problem(4, 1, 300, seed=10)
    X, Y = X.astype(dtype), Y.astype(dtype)
    with pytest.raises(twolayer.DivergenceError) as info:
        twolayer.fit(X, Y, learning_rate, 3, 50, backend="numba")
    error = info.value
    layout = Layout(4, 3, 1)
    theta = initial_parameters(layout, np.dtype(dtype), 3)
    costs = np.empty(50, dtype=dtype)
    completed = _same_rounding().train_chunk(X, Y, theta, learning_rate, costs, 1)
    assert error.iteration == completed == 1  # update 0 is finite, update 1 is not
    assert len(error.costs) == error.iteration + 1
    np.testing.assert_array_equal(error.costs, costs[: completed + 1])
    for key, expected in layout.unpack(theta).items():
        assert np.all(np.isfinite(error.params[key]))
        np.testing.assert_array_equal(error.params[key], expected)


def test_train_chunk_keeps_the_last_finite_parameters():
    kernels = load_backend("numba")
    X, Y = _problem(4, 1, 300, seed=10)
    start = initial_parameters(Layout(4, 3, 1), np.dtype(np.float64), 3)
    after_one = start.copy()
    assert kernels.train_chunk(X, Y, after_one, 1e308, np.empty(1), 1) == 1
    theta = start.copy()
    costs = np.full(10, -1.0)
    completed = kernels.train_chunk(X, Y, theta, 1e308, costs, 1)
    assert completed == 1  # update 0 is finite, update 1 overflows
    assert np.isfinite(costs[0]) and not np.isfinite(costs[1])  # costs[1]: the failing cost
    assert np.all(costs[2:] == -1.0)
    assert np.all(np.isfinite(theta)) and not np.array_equal(theta, start)
    np.testing.assert_array_equal(theta, after_one)


def test_a_chunk_releases_the_gil():
    # fit() runs train_chunk in chunks of about 0.1 s; one long chunk here makes the
    # window wide enough to tell "released" from "held" on a loaded machine.
    kernels = load_backend("numba")
    X, Y = _problem(10, 1, 2 * BLOCK, seed=12)
    theta = initial_parameters(Layout(10, 16, 1), np.dtype(np.float64), 3)
    kernels.train_chunk(X, Y, theta.copy(), 0.1, np.empty(1), 1)  # compiled or loaded
    started = time.perf_counter()
    kernels.train_chunk(X, Y, theta.copy(), 0.1, np.empty(5), 1)
    per_iteration = (time.perf_counter() - started) / 5
    iterations = max(10, int(2.0 / per_iteration))  # one call of about 2 s
    window = {}

    def worker():
        window["start"] = time.perf_counter()
        kernels.train_chunk(X, Y, theta, 0.1, np.empty(iterations), 1)
        window["stop"] = time.perf_counter()

    thread = threading.Thread(target=worker)
    ticks = []
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    # Ticks well inside the call can only exist if the call does not hold the GIL.
    lo, hi = window["start"] + 0.2, window["stop"] - 0.1
    assert hi - lo > 0.3
    inside = [t for t in ticks if lo < t < hi]
    assert len(inside) > 100, f"{len(inside)} main-thread ticks during a {hi - lo:.2f} s call"


_COLD_START = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    import twolayer
    numba_imported = "numba" in sys.modules
    from twolayer.datasets import make_moons
    X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend="numba")
    elapsed = time.perf_counter() - started
    # The same compiled function on wide inputs (the chunked path): its bits.
    rng = __import__("numpy").random.default_rng(7)
    wide = twolayer.fit(rng.normal(size=(77, 150)), (rng.normal(size=(2, 150)) > 0) * 1.0,
                        0.5, 6, 20, backend="numba")[0]
    from twolayer import _numba_kernels as k
    try:
        open(twolayer.__file__ + ".probe", "w").close()
        package_writable = True
    except PermissionError:
        package_writable = False
    stats = [getattr(k, name).stats for name in ("_train_chunk", "_gradient_sums")]
    print(json.dumps({
        "file": twolayer.__file__,
        "package_writable": package_writable,
        "numba_imported_by_import_twolayer": numba_imported,
        "seconds": elapsed,
        "last_cost": float(costs[-1]),
        "wide_W1": [float(v).hex() for v in wide["W1"].ravel()],
        "hits": sum(sum(s.cache_hits.values()) for s in stats),
        "misses": sum(sum(s.cache_misses.values()) for s in stats),
    }))
    """
)


def _without_root_override():
    """Root ignores file modes: drop the capabilities that let it, so read-only means read-only."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: util-linux setpriv is needed to make a directory read-only"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _read_only_install(tmp: Path, read_only_cache: bool) -> tuple[Path, Path, dict[str, str]]:
    """Copy the installed package under tmp/site, read-only; return (package, cache, env)."""
    package = tmp / "site" / "twolayer"
    shutil.copytree(Path(twolayer.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    cache_home = tmp / "cache"
    cache_home.mkdir()
    for path in [*([cache_home] if read_only_cache else []), package, *package.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(PYTHONPATH=str(tmp / "site"), XDG_CACHE_HOME=str(cache_home), HOME=str(tmp))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return package, cache_home, env


def _cold_start_run(env: dict[str, str], cwd: Path) -> dict:
    """One fresh process, without root's override of file modes, running _COLD_START."""
    out = subprocess.run(
        [*_without_root_override(), sys.executable, "-c", _COLD_START],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
def test_cache_falls_back_to_the_user_directory_when_the_package_is_read_only():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        package, cache_home, env = _read_only_install(tmp, read_only_cache=False)
        cold, warm = _cold_start_run(env, tmp), _cold_start_run(env, tmp)
        assert Path(cold["file"]).parent == package  # the read-only copy, not the installed one
        assert not cold["package_writable"] and not warm["package_writable"]
        assert not cold["numba_imported_by_import_twolayer"]
        assert cold["misses"] > 0  # compiled (the cache was empty)
        # One function, _train_chunk for float64, loaded from the cache; nothing compiled.
        assert warm["misses"] == 0 and warm["hits"] == 1
        # Compiled in this process or loaded from the cache: the same bits, those of
        # the build that rounds alike (LLVM's own contraction once made them differ).
        assert warm["last_cost"] == cold["last_cost"]
        assert warm["wide_W1"] == cold["wide_W1"]
        expected = _fit_with(_same_rounding(), *_moons(), 0.3, 5, 5000)[1][-1]
        assert warm["last_cost"] == expected
        rng = np.random.default_rng(7)
        X, Y = rng.normal(size=(77, 150)), (rng.normal(size=(2, 150)) > 0) * 1.0
        wide = _fit_with(_same_rounding(), X, Y, 0.5, 6, 20)[0]["W1"]
        assert cold["wide_W1"] == [float(v).hex() for v in wide.ravel()]
        cached = list((cache_home / "numba").rglob("*.nbi"))
        assert cached, "no index file in the user-wide cache"
        assert not (package / "__pycache__").exists()
        print(f"cold run {cold['seconds']:.2f} s, warm run {warm['seconds']:.2f} s")


@pytest.mark.slow
def test_no_writable_cache_directory_still_trains():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        package, cache_home, env = _read_only_install(tmp, read_only_cache=True)
        try:
            run = _cold_start_run(env, tmp)
        finally:
            cache_home.chmod(0o755)
        assert Path(run["file"]).parent == package and not run["package_writable"]
        assert run["hits"] == 0 and run["misses"] == 1  # compiled in this process, not loaded
        expected = _fit_with(_same_rounding(), *_moons(), 0.3, 5, 5000)[1][-1]
        assert run["last_cost"] == pytest.approx(expected, rel=RTOL)
        assert not list(cache_home.rglob("*"))


def _moons():
    from twolayer.datasets import make_moons

    return make_moons(n_samples=500, noise=0.2, seed=0)
