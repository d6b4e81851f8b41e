"""Reliability beyond bad input (issue 8): memory-mapped and read-only data,
several fits in several Python threads, no leak over a thousand fits, and
absurd sizes refused before anything large is allocated.

Divergence, Ctrl-C (every backend), the GIL and peak memory on in-memory data
are in test_kernel_behaviour.py; bad values in test_validation.py and
test_properties.py; layouts in test_layouts.py; model files in test_io.py.
Measurements of a whole process (peak RSS, resident memory) run in a fresh
subprocess so that nothing else in the test session blurs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import twolayer
from support import COMPILED, assert_params_close, relative_error
from twolayer._geometry import BLOCK  # samples per block of the compiled kernels

ALL = list(twolayer.available_backends())


def _run(script: str, *args: str, timeout: float = 600) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _problem(n_features: int, n_outputs: int, n_samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_features, n_samples))
    logits = rng.normal(size=(n_outputs, n_features)) @ X
    Y = (logits + rng.normal(size=logits.shape) > 0).astype(float)
    return X, Y


# ----------------------------------------------------------------- memory maps

_MEMMAP_SCRIPT = """
    import json, resource, sys
    import numpy as np
    import twolayer

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

    path, y_path, backend, n_features, n_samples = sys.argv[1:6]
    shape = (int(n_features), int(n_samples))
    X = np.memmap(path, dtype=np.float64, mode="r", shape=shape)
    Y = np.load(y_path)
    twolayer.fit(X[:, :3000], Y[:, :3000], 0.1, 64, 2, backend=backend)  # load, compile
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    file_before = status("RssFile")
    params, costs = twolayer.fit(X, Y, 0.1, 64, 2, backend=backend)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    file_after = status("RssFile")
    print(json.dumps({
        "peak_growth": peak_after - peak_before,
        "file_growth": file_after - file_before,
        "x_bytes": X.nbytes,
        "costs": costs.tolist(),
        "finite": bool(all(np.isfinite(p).all() for p in params.values())),
    }))
"""


@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory) -> tuple[Path, Path, tuple[int, int]]:
    """A 20 x 1e6 float64 X (160 MB) on disk, written a row at a time, and its Y."""
    n_features, n_samples = 20, 1_000_000
    folder = tmp_path_factory.mktemp("memmap")
    path = folder / "X.f64"
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for row in range(n_features):
            values = rng.standard_normal(n_samples)
            if row == 0:
                Y = (values > 0).astype(np.float64).reshape(1, -1)
            values.tofile(f)
    np.save(folder / "Y.npy", Y)
    return path, folder / "Y.npy", (n_features, n_samples)


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
def test_memmap_is_streamed_in_place_without_a_copy(backend, big_memmap):
    """A fit on a read-only np.memmap reads X where it lies.

    Reading X maps its pages into the process: they count in the peak RSS
    (ru_maxrss) and in RssFile, but they are the file's pages, not a copy.
    Beyond them, the peak may grow by the kernels' working memory (a row of
    partial sums per 2048-sample block, ~250 KB here) plus Y and the allocator's
    slack: the same 0.3 x X.nbytes budget as the in-memory test in
    test_kernel_behaviour.py. Any copy of X (a float64 conversion, a contiguous
    copy, a temporary of its shape) would add 1.0 x X.nbytes of anonymous memory.
    """
    path, y_path, (n_features, n_samples) = big_memmap
    out = _run(_MEMMAP_SCRIPT, str(path), str(y_path), backend, str(n_features), str(n_samples))
    result = json.loads(out.splitlines()[-1])
    x_bytes = result["x_bytes"]
    assert x_bytes == n_features * n_samples * 8
    assert result["finite"]
    # The mapping's pages were read in place: RssFile grew by about X's size (the
    # warm-up had touched only its first 3000 columns).
    assert result["file_growth"] >= 0.5 * x_bytes, result
    beyond_mapping = result["peak_growth"] - result["file_growth"]
    assert beyond_mapping <= 0.3 * x_bytes, result
    # And the numbers are those of the same data in memory.
    X = np.fromfile(path, dtype=np.float64).reshape(n_features, n_samples)
    Y = np.load(y_path)
    _, costs = twolayer.fit(X, Y, 0.1, 64, 2, backend=backend)
    np.testing.assert_array_equal(result["costs"], costs)


@pytest.mark.parametrize("backend", ALL)
def test_read_only_memmap_larger_than_a_block(backend, tmp_path):
    """A read-only memmap of 2.5 blocks, Fortran order, and a read-only Y: same bits as
    in-memory copies, and the reference's numbers."""
    X, Y = _problem(5, 2, 2 * BLOCK + 1000, seed=11)
    X_map = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="w+", shape=X.shape, order="F")
    X_map[:] = X
    X_map.flush()
    del X_map
    X_ro = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="r", shape=X.shape, order="F")
    Y_ro = Y.copy()
    Y_ro.flags.writeable = False
    assert not X_ro.flags.writeable and X_ro.flags.f_contiguous
    params, costs = twolayer.fit(X_ro, Y_ro, 0.5, 6, 20, backend=backend)
    expected, expected_costs = twolayer.fit(X.copy(), Y.copy(), 0.5, 6, 20, backend=backend)
    if backend == "numpy":  # BLAS may sum a Fortran-order operand in another order
        assert relative_error(costs, expected_costs) < 1e-12
        assert_params_close(params, expected, 1e-12)
    else:
        np.testing.assert_array_equal(costs, expected_costs)
        for key in params:
            np.testing.assert_array_equal(params[key], expected[key])
    reference, reference_costs = twolayer.fit(X, Y, 0.5, 6, 20, backend="numpy")
    assert relative_error(costs, reference_costs) < 1e-9
    assert_params_close(params, reference, 1e-9)
    proba = twolayer.predict_proba(params, X_ro)
    np.testing.assert_allclose(proba, twolayer.predict_proba(params, X), rtol=1e-12)


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_only_views_larger_than_a_block(backend, dtype):
    """Read-only, strided and reversed at once, 3 blocks and a ragged tail."""
    X, Y = _problem(4, 1, 3 * BLOCK + 333, seed=12)
    X = X.astype(dtype)
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=dtype)
    wide[:, ::2] = X[:, ::-1]
    view = wide[:, ::2][:, ::-1]
    view.flags.writeable = False
    np.testing.assert_array_equal(view, X)
    params, costs = twolayer.fit(view, Y, 0.5, 5, 10, backend=backend)
    expected, expected_costs = twolayer.fit(np.ascontiguousarray(X), Y, 0.5, 5, 10, backend=backend)
    rtol = 0.0 if backend != "numpy" else (1e-12 if dtype == np.float64 else 1e-5)
    assert relative_error(costs, expected_costs) <= rtol
    assert_params_close(params, expected, rtol)


# ----------------------------------------------------------------- threads


def _thread_jobs() -> list[tuple[str, dict]]:
    """Different problems on every backend; the compiled ones with 1 and 2 threads."""
    jobs = []
    shapes = [(2, 1, 3 * BLOCK + 5), (6, 2, BLOCK + 100), (3, 3, 777), (8, 1, 4 * BLOCK)]
    for i, backend in enumerate(ALL):
        for n_threads in (1, 2) if backend != "numpy" else (1,):
            for dtype in (np.float64, np.float32):
                f, o, n = shapes[(i + n_threads + (dtype == np.float32)) % len(shapes)]
                iterations = 300 if backend != "numpy" else 30
                jobs.append(
                    (
                        backend,
                        {
                            "seed": len(jobs),
                            "shape": (f, o, n),
                            "dtype": dtype,
                            "hidden": 3 + len(jobs) % 5,
                            "n_threads": n_threads,
                            "iterations": iterations,
                        },
                    )
                )
    return jobs


def _run_job(backend: str, job: dict):
    f, o, n = job["shape"]
    X, Y = _problem(f, o, n, seed=job["seed"])
    return twolayer.fit(
        X.astype(job["dtype"]),
        Y,
        0.5,
        job["hidden"],
        job["iterations"],
        backend=backend,
        n_threads=job["n_threads"],
        seed=job["seed"],
    )


def test_concurrent_fits_in_threads_equal_sequential_fits():
    jobs = _thread_jobs()
    sequential = [_run_job(backend, job) for backend, job in jobs]
    for _ in range(2):  # twice, so that different pairs of jobs overlap
        with ThreadPoolExecutor(max_workers=4) as pool:
            concurrent = list(pool.map(lambda j: _run_job(*j), jobs))
        for (backend, job), (params, costs), (exp_params, exp_costs) in zip(
            jobs, concurrent, sequential, strict=True
        ):
            what = f"{backend} {job}"
            np.testing.assert_array_equal(costs, exp_costs, err_msg=what)
            for key in params:
                np.testing.assert_array_equal(params[key], exp_params[key], err_msg=what)
        jobs.reverse()
        sequential.reverse()


_COLD_THREADS_SCRIPT = """
    import sys, hashlib
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import twolayer

    def job(args):
        backend, dtype, seed = args
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(3, 2500)).astype(dtype)
        Y = (X[:1] > 0).astype(float)
        params, costs = twolayer.fit(X, Y, 0.5, 4, 30, backend=backend, n_threads=2)
        digest = hashlib.sha256(costs.tobytes())
        for key in sorted(params):
            digest.update(params[key].tobytes())
        return digest.hexdigest()

    jobs = [(b, d, s) for s, (b, d) in enumerate(
        (b, d) for b in twolayer.available_backends() for d in ("float64", "float32"))]
    # First use of every backend (Cython extension load, Numba compilation) from
    # four threads at once, then the same jobs one after another.
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(job, jobs * 2))
    sequential = [job(j) for j in jobs * 2]
    print("same", concurrent == sequential, len(jobs))
"""


def test_first_use_of_the_backends_from_several_threads_at_once():
    """Lazy loading and Numba's compilation race in four threads: same bits anyway."""
    out = _run(_COLD_THREADS_SCRIPT)
    assert f"same True {2 * len(ALL)}" in out, out


# ----------------------------------------------------------------- leaks

_LEAK_SCRIPT = """
    import json, os, sys, threading
    import numpy as np
    import twolayer

    backend = sys.argv[1]
    page = os.sysconf("SC_PAGE_SIZE")

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    def os_threads():
        return len(os.listdir("/proc/self/task"))

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3000))
    Y = (X[:1] > 0).astype(float)
    X_int = np.rint(X * 10).astype(np.int32)      # converted (copied) on every fit
    X_f32 = np.asfortranarray(X, dtype=np.float32)

    def one_round(i):
        # A plain fit, a converting fit, a float32 Fortran fit, predictions, a
        # divergence (exception carrying parameters) and a refused input.
        params, costs = twolayer.fit(X, Y, 0.3, 5, 3, backend=backend, seed=i % 7)
        twolayer.fit(X_int, Y, 0.01, 3, 2, backend=backend)
        twolayer.fit(X_f32, Y, 0.3, 4, 2, backend=backend, n_threads=2)
        twolayer.predict(params, X)
        try:
            twolayer.fit(X[:, :50], Y[:, :50], 1e307, 200, 10, backend=backend)
        except twolayer.DivergenceError:
            pass
        try:
            twolayer.fit(X, Y * 2, 0.3, 5, 1, backend=backend)
        except ValueError:
            pass
        return costs

    for i in range(100):
        one_round(i)
    first = one_round(0)
    rss_warm, threads_warm = resident(), os_threads()
    for i in range(1000):
        costs = one_round(i)
    rss_end, threads_end = resident(), os_threads()
    again = one_round(0)
    print(json.dumps({"warm": rss_warm, "end": rss_end, "threads_warm": threads_warm,
                      "threads_end": threads_end, "python_threads": threading.active_count(),
                      "same": bool(np.array_equal(first, again))}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ALL)
def test_a_thousand_fits_keep_resident_memory_flat(backend):
    """RSS after 100 warm-up rounds and after 1000 more: growth below 3 MB.

    Each round makes six calls that allocate about 1 MB and free it (X converted
    from int32 is 96 KB, the reference's activations 100-200 KB per fit, a
    DivergenceError holding 800 parameters and its traceback). Leaking any of
    those buffers would add 90 MB or more over the 1000 rounds. The bound catches
    anything from about 3 KB per round: injected into this script, one leaked 4 KB
    array per round grows RSS by 4.1 MB (a leaked 3-element costs array, by
    0.2 MB: below what RSS can resolve). Measured without injection: 0.0 MB on
    every backend; 3 MB leaves the allocator room for an arena or two. OS threads
    must not accumulate either (a thread pool per call would).
    """
    out = _run(_LEAK_SCRIPT, backend)
    result = json.loads(out.splitlines()[-1])
    growth = result["end"] - result["warm"]
    assert growth < 3 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MB: {result}"
    assert result["threads_end"] == result["threads_warm"], result
    assert result["python_threads"] == 1
    assert result["same"]


# ----------------------------------------------------------------- absurd sizes

_REFUSE_SCRIPT = """
    import json, resource
    import numpy as np
    import twolayer
    from twolayer import TwoLayerClassifier

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    X = np.random.default_rng(0).normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    TwoLayerClassifier(hidden_size=3, max_iter=2).fit(X, y)   # imports, first use
    results = {}
    before = peak()
    cases = {
        # more parameters than an index can hold
        "estimator hidden 2**40": lambda: TwoLayerClassifier(hidden_size=2**40).fit(X, y),
        # parameters of 3 GB, working memory of the reference far beyond
        "estimator hidden 5e7": lambda: TwoLayerClassifier(hidden_size=50_000_000,
                                                           backend="numpy").fit(X, y),
        # a broadcast view of 2 x 1e11 bools: converting it would take 1.6 TB
        "bool view 2 x 1e11": lambda: twolayer.fit(
            np.broadcast_to(np.array([[True], [False]]), (2, 10**11)),
            np.broadcast_to(np.ones((1, 1)), (1, 10**11)), 0.1, 5, 1),
        # the same for predictions
        "predict int view 1e11": lambda: twolayer.predict_proba(
            {"W1": np.ones((3, 2)), "b1": np.zeros((3, 1)), "W2": np.ones((1, 3)),
             "b2": np.zeros((1, 1))},
            np.broadcast_to(np.ones((2, 1), dtype=np.int64), (2, 10**11))),
    }
    for name, call in cases.items():
        try:
            call()
            results[name] = "no error"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    results["peak_growth"] = peak() - before
    print(json.dumps(results))
"""


def test_absurd_sizes_are_refused_clearly_before_allocating():
    """A hidden layer or an input conversion that cannot exist: a ValueError naming
    the argument, and the peak RSS of the process does not move (< 20 MB)."""
    out = _run(_REFUSE_SCRIPT, timeout=300)
    result = json.loads(out.splitlines()[-1])
    assert result["estimator hidden 2**40"].startswith("ValueError: hidden_size=1099511627776")
    assert result["estimator hidden 5e7"].startswith("ValueError: a fit with hidden_size=50000000")
    assert "GiB of working memory" in result["estimator hidden 5e7"]
    assert result["bool view 2 x 1e11"].startswith("ValueError: X converted to float64 needs")
    assert result["predict int view 1e11"].startswith("ValueError: X converted to float64 needs")
    assert result["peak_growth"] < 20 * 2**20, result


# ----------------------------------------------------------------- first calls

_FIRST_CALL_SCRIPT = """
    import sys
    import numpy as np
    from twolayer._backends import load_backend
    from twolayer._params import Layout, initial_parameters

    backend, entry, dtype = sys.argv[1:4]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 300)).astype(dtype)
    Y = (X[:1] > 0).astype(dtype)
    theta = initial_parameters(Layout(3, 4, 1), np.dtype(dtype), 3)
    kernels = load_backend(backend)
    if entry == "gradient_sums":
        grad = np.empty_like(theta)
        print(kernels.gradient_sums(X, Y, theta, grad, 1), grad.sum())
    else:
        costs = np.empty(3, dtype=dtype)
        print(kernels.train_chunk(X, Y, theta, 0.1, costs, 1), costs.sum())
"""


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("entry", ["gradient_sums", "train_chunk"])
def test_each_kernel_works_as_the_first_call_of_a_process_with_one_thread(backend, entry):
    """Each entry point (fit uses train_chunk, fit(comm=...) gradient_sums) as a fresh
    process's first kernel call with n_threads=1, twice: the first run may compile and
    cache, the second loads from the cache. Numba's cached parallel kernels segfaulted
    here when nothing had launched its threading layer (numba issue 8578)."""
    for dtype in ("float64", "float32"):
        runs = [_run(_FIRST_CALL_SCRIPT, backend, entry, dtype).split() for _ in range(2)]
        assert runs[0] == runs[1]
        expected = _run(_FIRST_CALL_SCRIPT, "numpy", entry, dtype).split()
        rtol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(np.array(runs[0], float), np.array(expected, float), rtol=rtol)
