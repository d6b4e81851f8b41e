"""The compiled train_epoch (issue 15) against the NumPy reference, and its contract.

Cython (the build that loads here) and Numba, each held against the reference
``train_epoch`` over the grid dtype x solver x weights x output x batch x order,
within 1e-10 (float64; relative to each array's largest value, as in
test_parity). Every compiled result is also bitwise the same for 1, 2 and 3
threads: the full batch and the 2,500-sample batches span more than one block
(BLOCK positions), so those runs really split a batch between threads. Then
the edges of the contract: a non-finite batch, a batch whose weights are all
zero, saturated softmax logits, one sample with one hidden unit, and the
softmax prediction (forward_chunk mode 3).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from support import VARIANTS, in_layout, relative_error
from twolayer import _geometry as geometry
from twolayer import _solver_codes as codes
from twolayer._backends import available_backends, load_backend
from twolayer._params import Layout

BLOCK = geometry.BLOCK
COMPILED = [b for b in ("cython", "numba") if b in available_backends()]
SOLVERS = {"sgd": (codes.SGD, 0.0), "momentum": (codes.SGD, 0.9),
           "nesterov": (codes.NESTEROV, 0.9), "adam": (codes.ADAM, 0.0)}  # fmt: skip
OUTPUTS = {"sigmoid1": (0, 1), "sigmoid3": (0, 3), "softmax3": (1, 3)}
# batch size -> samples: the full batch and the 2,500 batches span 3 and 2 blocks.
BATCHES = {"full": (None, 2 * BLOCK + 300), 64: (64, 1000), 200: (200, 1050), 1: (1, 150),
           2500: (2500, 6000)}  # fmt: skip
RTOL = {np.float64: 1e-10, np.float32: 2e-3}



@pytest.mark.parametrize("module_name", VARIANTS)
def test_solver_codes_are_the_compiled_ones(module_name):
    # C defines them (_optimizer_impl.h's enum); Python's one copy must be the same numbers,
    # distinct, and fit's names must map onto them.
    kernels = importlib.import_module(module_name)
    assert (kernels.SGD, kernels.NESTEROV, kernels.ADAM) == (codes.SGD, codes.NESTEROV, codes.ADAM)
    assert len({codes.SGD, codes.NESTEROV, codes.ADAM}) == 3
    assert codes.SOLVERS == {"sgd": codes.SGD, "adam": codes.ADAM}

def _hyper(learning_rate, momentum=0.0, alpha=0.0, t=0.0):
    """[lr, momentum, beta_1, beta_2, epsilon, alpha, t, 0] (see _reference.train_epoch)."""
    return np.array([learning_rate, momentum, 0.9, 0.999, 1e-8, alpha, t, 0.0])


def _problem(n, f, h, o, softmax, dtype, seed):
    """X (f, n) as the transpose of a C-ordered (n, f) array, as users hold it; Y, theta."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f)).astype(dtype).T
    if softmax:
        labels = rng.integers(0, o, n)
        Y = np.eye(o, dtype=dtype)[:, labels]
        Y[:, ::7] = rng.dirichlet(np.ones(o), Y[:, ::7].shape[1]).T  # some soft targets
    else:
        Y = (rng.random((o, n)) < 0.4).astype(dtype)
    theta = (rng.standard_normal(Layout(f, h, o).size) * 0.5).astype(dtype)
    return X, Y, theta


def _epoch(kernels, X, Y, sw, order, theta, state, hyper, solver, batch, softmax, n_threads):
    """One epoch on copies; returns (completed, accumulated, theta, state, hyper)."""
    theta, state, hyper = theta.copy(), state.copy(), hyper.copy()
    completed, accumulated = kernels.train_epoch(X, Y, sw, order, theta, state, hyper, solver,
                                                 batch, softmax, n_threads)  # fmt: skip
    return completed, accumulated, theta, state, hyper


def _assert_same(actual, expected):
    """Bitwise the same epoch (or the same tail of two epochs' results)."""
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _assert_close(actual, expected, layout, rtol):
    assert actual[0] == expected[0], "completed batches"
    assert abs(actual[1] - expected[1]) <= rtol * abs(expected[1]), (actual[1], expected[1])
    for key, view in layout.views(actual[2]).items():
        err = relative_error(view, layout.views(expected[2])[key])
        assert err <= rtol, f"theta {key}: {err:.3g}"
    for row in range(2):
        assert relative_error(actual[3][row], expected[3][row]) <= rtol, f"state row {row}"
    assert actual[4][6] == expected[4][6], "adam's step count"


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("batch", list(BATCHES))
@pytest.mark.parametrize("shuffled", [False, True])
def test_epoch_matches_reference(backend, dtype, solver, weighted, output, batch, shuffled):
    code, momentum = SOLVERS[solver]
    softmax, o = OUTPUTS[output]
    batch_size, n = BATCHES[batch]
    batch_size = batch_size or n
    f, h = 6, 9
    seed = zlib.crc32(repr((solver, weighted, output, batch, shuffled)).encode())
    X, Y, theta = _problem(n, f, h, o, softmax, dtype, seed)
    rng = np.random.default_rng(seed + 1)
    sw = np.empty(0, dtype)
    if weighted:  # about a fifth of the weights zero
        sw = (rng.random(n) * 2 * (rng.random(n) < 0.8)).astype(dtype)
    order = rng.permutation(n) if shuffled else np.empty(0, np.int64)
    # A state from earlier epochs (adam: t = 5), so that every term of the update counts.
    state = (np.abs(rng.standard_normal((2, theta.size))) * 1e-3).astype(dtype)
    # Batches of one sample: 150 momentum steps at 0.1 are chaotic enough to amplify
    # rounding past 1e-10 (any two summation orders differ there), so a smaller rate.
    rate = (0.01 if code == 2 else 0.1) / (10 if batch_size == 1 else 1)
    hyper = _hyper(rate, momentum, alpha=1e-3, t=5.0 if code == 2 else 0.0)
    args = (X, Y, sw, order, theta, state, hyper, code, batch_size, softmax)
    inputs = [a.copy() for a in args[:7]]

    expected = _epoch(load_backend("numpy"), *args, 1)
    kernels = load_backend(backend)
    results = [_epoch(kernels, *args, n_threads) for n_threads in (1, 2, 3)]
    for other in results[1:]:
        _assert_same(other, results[0])
    n_batches = -(-n // batch_size)
    assert expected[0] == n_batches
    _assert_close(results[0], expected, Layout(f, h, o), RTOL[dtype])
    for before, after in zip(inputs, args[:7], strict=True):  # the copies were updated, not these
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("f", [8, 13, 40])
@pytest.mark.parametrize("shuffled", [False, True])
def test_epoch_same_bits_for_every_layout_of_x(backend, dtype, f, shuffled):
    """X's layout changes how tiles are read, never a result: X.T of a C-ordered array
    (a sample's values contiguous: gathered by 8 x 8 blocks, the last block of
    features overlapping when f is not a multiple of 8), a C-ordered X (read in
    place) and a strided view give the same bits, in order and shuffled, with
    batches of 37 (tiles whose sample count is not a multiple of 8); and they
    match the reference. f = 40 is wide (feature rows in chunks)."""
    n, h, o = 301, 5, 1
    X, Y, theta = _problem(n, f, h, o, 0, dtype, seed=f)
    rng = np.random.default_rng(f + 1)
    order = rng.permutation(n) if shuffled else np.empty(0, np.int64)
    state = np.zeros((2, theta.size), dtype)
    args = (Y, np.empty(0, dtype), order, theta, state, _hyper(0.01, alpha=1e-3, t=0.0), 2, 37,
            0)  # fmt: skip
    kernels = load_backend(backend)
    assert X.flags.f_contiguous  # the transpose of a C-ordered array
    results = {layout: _epoch(kernels, in_layout(X, layout), *args, 1)
               for layout in ("F", "C", "sliced")}  # fmt: skip
    for layout in ("C", "sliced"):
        _assert_same(results[layout], results["F"])
    expected = _epoch(load_backend("numpy"), X, *args, 1)
    _assert_close(results["F"], expected, Layout(f, h, o), RTOL[dtype])


@pytest.mark.skipif(len(COMPILED) < 2, reason="needs both compiled backends")
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_numba_matches_cython(solver, output):
    """Within 1e-10 of each other (the contract); bitwise here, where both fuse alike."""
    code, momentum = SOLVERS[solver]
    softmax, o = OUTPUTS[output]
    n = 3000
    X, Y, theta = _problem(n, 5, 8, o, softmax, np.float64, 11)
    rng = np.random.default_rng(12)
    sw = rng.random(n) * (rng.random(n) < 0.8)
    state = np.zeros((2, theta.size))
    args = (X, Y, sw, rng.permutation(n), theta, state, _hyper(0.05, momentum, 1e-4), code, 100,
            softmax)  # fmt: skip
    cython = _epoch(load_backend("cython"), *args, 2)
    numba = _epoch(load_backend("numba"), *args, 2)
    _assert_close(numba, cython, Layout(5, 8, o), 1e-10)


def _prefix(args, samples):
    """The same arguments restricted to the first `samples` positions (no order)."""
    X, Y, sw, order, *rest = args
    return (X[:, :samples], Y[:, :samples], sw[:samples], order[:0], *rest)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("output", ["sigmoid1", "softmax3"])
def test_non_finite_batch_writes_nothing(backend, solver, output):
    """A batch whose cost is not finite stops the epoch: theta, state and t are those
    after the batches before it (bitwise: the same epoch cut short). Sixteen weights of
    1e308 in batch 3 (finite, so the Python layer lets them through) make its weight
    sum and weighted loss overflow: NaN in every backend."""
    code, _ = SOLVERS[solver]
    softmax, o = OUTPUTS[output]
    n, batch = 640, 64
    X, Y, theta = _problem(n, 4, 5, o, softmax, np.float64, 3)
    sw = np.ones(n)
    sw[3 * batch + 5 : 3 * batch + 21] = 1e308
    kernels = load_backend(backend)
    state = np.zeros((2, theta.size))
    args = (X, Y, sw, np.empty(0, np.int64), theta, state, _hyper(0.1), code, batch, softmax)
    failed = _epoch(kernels, *args, 1)
    assert failed[0] == 3
    before = _epoch(kernels, *_prefix(args, 3 * batch), 1)
    assert before[0] == 3
    _assert_same(failed, before)
    assert failed[4][6] == (3 if code == 2 else 0)
    assert np.isfinite(failed[1])
    _assert_close(failed, _epoch(load_backend("numpy"), *args, 1), Layout(4, 5, o), 1e-10)


@pytest.mark.parametrize("backend", COMPILED)
def test_zero_weight_batch_is_skipped(backend):
    """Batch 1's weights are all zero: no update, no loss, t unchanged; the rest as the
    reference (which skips it too); and the result equals the epoch without that batch."""
    n, batch = 320, 64
    X, Y, theta = _problem(n, 4, 5, 3, 1, np.float64, 4)
    sw = np.random.default_rng(5).random(n)
    sw[batch : 2 * batch] = 0
    state = np.zeros((2, theta.size))
    args = (X, Y, sw, np.empty(0, np.int64), theta, state, _hyper(0.01), 2, batch, 1)
    got = _epoch(load_backend(backend), *args, 1)
    assert got[0] == n // batch and got[4][6] == n // batch - 1
    _assert_close(got, _epoch(load_backend("numpy"), *args, 1), Layout(4, 5, 3), 1e-10)
    keep = np.r_[0:batch, 2 * batch : n]  # the same batches with the empty one taken out
    without = _epoch(load_backend(backend), X[:, keep], Y[:, keep], sw[keep], *args[3:], 1)
    assert without[0] == got[0] - 1
    _assert_same(got[1:], without[1:])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_softmax_is_finite(backend, dtype):
    """Logits of +-1000: the cost is finite and right (~2000 per sample on the wrong
    class, ~0 on the right one), the gradient is p - y with p exactly one-hot."""
    n, f, h, o = 10, 3, 2, 3
    layout = Layout(f, h, o)
    X, _, theta = _problem(n, f, h, o, 1, dtype, 6)
    p = layout.views(theta)
    p["W2"][...] = 0
    p["b2"][:, 0] = [1000, -1000, 0]
    Y = np.zeros((o, n), dtype)
    Y[0, :5] = 1  # right class: loss ~ 0
    Y[1, 5:] = 1  # wrong class: loss 2000
    state = np.zeros((2, theta.size), dtype)
    args = (X, Y, np.empty(0, dtype), np.empty(0, np.int64), theta, state, _hyper(0.1), 0, n, 1)
    got = _epoch(load_backend(backend), *args, 1)
    assert got[0] == 1 and np.isfinite(got[1])
    np.testing.assert_allclose(got[1] / n, 1000, rtol=1e-6)  # half the samples at 2000
    step = got[2] - theta  # -lr * mean(p - y) on b2: p = (1, 0, 0)
    atol = 1e-12 if dtype == np.float64 else 1e-4  # float32 b2 = 1000 is rounded to 6e-5
    np.testing.assert_allclose(layout.views(step)["b2"][:, 0], [-0.05, 0.05, 0], atol=atol)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_one_sample_one_hidden_unit(backend, solver):
    code, momentum = SOLVERS[solver]
    X, Y, theta = _problem(1, 2, 1, 1, 0, np.float64, 7)
    state = np.zeros((2, theta.size))
    for weights in (np.empty(0), np.array([0.5])):
        args = (X, Y, weights, np.zeros(1, np.int64), theta, state, _hyper(0.3, momentum, 0.1),
                code, 1, 0)  # fmt: skip
        got = _epoch(load_backend(backend), *args, 1)
        _assert_close(got, _epoch(load_backend("numpy"), *args, 1), Layout(2, 1, 1), 1e-12)


@pytest.mark.parametrize("backend", COMPILED)
def test_plain_full_batch_is_a_gradient_step(backend):
    """Unweighted sigmoid, plain sgd, the full batch: train_chunk's mathematics (one
    iteration), with scikit-learn's rounding, so equal up to rounding."""
    X, Y, theta = _problem(5000, 4, 6, 1, 0, np.float64, 8)
    kernels = load_backend(backend)
    chunk_theta, costs = theta.copy(), np.empty(1)
    assert kernels.train_chunk(X, Y, chunk_theta, 0.5, costs, 2) == 1
    args = (X, Y, np.empty(0), np.empty(0, np.int64), theta, np.zeros((2, theta.size)),
            _hyper(0.5), 0, 5000, 0)  # fmt: skip
    got = _epoch(kernels, *args, 2)
    assert abs(got[1] / 5000 - costs[0]) <= 1e-14 * costs[0]
    assert relative_error(got[2], chunk_theta) <= 1e-14


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_softmax(backend, dtype):
    """forward_chunk mode 3: one softmax per sample, within a few ulp of NumPy's; exactly
    one-hot (0 below exp's domain) for saturated logits; any strides."""
    n, f, h, o = 300, 4, 5, 3
    X, _, theta = _problem(n, f, h, o, 1, dtype, 9)
    p = Layout(f, h, o).unpack(theta)
    p["W2"] *= 4
    out = np.empty((o, n), dtype, order="F")
    flags = load_backend(backend).forward_chunk(X, p["W1"], p["b1"], p["W2"], p["b2"], out, 0, n,
                                                3, 2)  # fmt: skip
    assert flags == 0
    Z = (p["W2"].astype(float) @ np.tanh(p["W1"].astype(float) @ X + p["b1"]) + p["b2"])
    E = np.exp(Z - Z.max(axis=0))
    expected = E / E.sum(axis=0)
    tol = 1e-14 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(out.sum(axis=0), 1, atol=tol)
    reference = np.empty((o, n), dtype)
    assert load_backend("numpy").forward_chunk(X, p["W1"], p["b1"], p["W2"], p["b2"], reference,
                                               0, n, 3, 1) == 0  # fmt: skip
    np.testing.assert_allclose(out, reference, rtol=0, atol=tol)

    p["W2"][...] = 0
    p["b2"][:, 0] = [1000, -1000, 0]
    load_backend(backend).forward_chunk(X, p["W1"], p["b1"], p["W2"], p["b2"], out, 0, n, 3, 1)
    np.testing.assert_array_equal(out, np.repeat(np.array([[1], [0], [0]], dtype), n, axis=1))


def test_bench_epoch_workload() -> None:
    """``twolayer bench --workload epoch``: every compiled backend's epoch and iteration
    timed, the epochs checked against the reference (it raises past 1e-10)."""
    proc = subprocess.run(
        [sys.executable, "-m", "twolayer._bench", "--workload", "epoch", "--n-samples", "3000",
         "--hidden", "8", "--repeat", "1", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["workload"]["batch_size"] == 200 and report["workload"]["n_samples"] == 3000
    assert sorted(report["times"]) == sorted(COMPILED)
    for backend, times in report["times"].items():
        assert set(times) == {"iteration", "epoch", "shuffled epoch"}
        assert all(0 < t < 60 for t in times.values())
        assert report["reference_error"][backend] <= 1e-10
