"""What every backend must do besides computing the right numbers:
divergence, interrupts, the GIL, and memory."""

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import twolayer
from support import COMPILED
from twolayer._backends import load_backend
from twolayer._params import Layout, initial_parameters

ALL = list(twolayer.available_backends())


def _diverging_problem():
    """With lr 1e307 and 200 hidden units, the logits overflow at the third iteration."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 50))
    Y = (X[:1] > 0).astype(float)
    return X, Y


@pytest.mark.parametrize("backend", ALL)
def test_divergence_names_the_iteration_and_keeps_last_finite_parameters(backend):
    X, Y = _diverging_problem()
    with pytest.raises(twolayer.DivergenceError, match="diverged at iteration") as caught:
        twolayer.fit(X, Y, 1e307, 200, 100, backend=backend)
    error = caught.value
    assert error.iteration == 2  # the first two steps are still finite
    assert error.costs.shape == (error.iteration + 1,)
    assert np.all(np.isfinite(error.costs[:-1]))
    assert all(np.all(np.isfinite(p)) for p in error.params.values())
    # The kept parameters are those after `iteration` updates: rerunning that many
    # iterations reproduces them.
    params, costs = twolayer.fit(X, Y, 1e307, 200, error.iteration, backend=backend)
    for key in params:
        np.testing.assert_array_equal(params[key], error.params[key])
    np.testing.assert_array_equal(costs, error.costs[:-1])


@pytest.mark.parametrize("backend", ALL)
def test_overflowing_logits_stop_before_the_first_update(backend):
    """Hand-made parameters: W1 = 1 and x = 5 give a = tanh(5) > 0 in all four
    hidden units, so z = sum 1e308 * a overflows: the cost is not finite at
    iteration 0 and theta must stay as it was."""
    kernels = load_backend(backend)
    X = np.full((1, 3), 5.0)
    Y = np.array([[1.0, 0.0, 1.0]])
    layout = Layout(1, 4, 1)
    theta = layout.pack(
        {
            "W1": np.ones((4, 1)),
            "b1": np.zeros((4, 1)),
            "W2": np.full((1, 4), 1e308),
            "b2": np.zeros((1, 1)),
        },
        np.dtype(np.float64),
    )
    before = theta.copy()
    costs = np.empty(5)
    assert kernels.train_chunk(X, Y, theta, 0.1, costs, 1) == 0
    assert not np.isfinite(costs[0])
    np.testing.assert_array_equal(theta, before)


def test_divergence_iteration_agrees_across_backends():
    X, Y = _diverging_problem()
    iterations = set()
    for backend in ALL:
        with pytest.raises(twolayer.DivergenceError) as caught:
            twolayer.fit(X, Y, 1e307, 200, 100, backend=backend)
        iterations.add(caught.value.iteration)
    assert len(iterations) == 1


@pytest.mark.parametrize("backend", COMPILED)
def test_kernels_release_the_gil(backend):
    """A long kernel call in one thread leaves the main thread free to run Python."""
    kernels = load_backend(backend)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 20_000))
    Y = (rng.uniform(size=(1, 20_000)) > 0.5).astype(float)
    layout = Layout(8, 32, 1)
    theta = initial_parameters(layout, np.dtype(np.float64), 0)
    costs = np.empty(400)
    if backend == "numba":
        kernels.train_chunk(X, Y, theta.copy(), 0.1, costs[:1], 1)  # compile first
    worker = threading.Thread(target=kernels.train_chunk, args=(X, Y, theta, 0.1, costs, 1))
    worker.start()
    time.sleep(0.05)
    ticks = 0
    deadline = time.perf_counter() + 0.2
    while time.perf_counter() < deadline:  # pure Python work: needs the GIL
        ticks += 1
    still_running = worker.is_alive()
    worker.join()
    assert still_running, "the kernel finished too early for this check to mean anything"
    assert ticks > 1000


def _run_script(script: str, backend: str, timeout: int) -> str:
    """Run ``script`` in a fresh interpreter with ``backend`` as argv[1]; return stdout."""
    out = subprocess.run(
        [sys.executable, "-c", script, backend], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


_INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time, threading, os
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it
    # started, and a runner started as a background job (``pytest &``) ignores it, which
    # its children inherit: restore the handler so that the test does not depend on that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import twolayer
    backend = sys.argv[1]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 100_000))
    Y = (rng.uniform(size=(1, 100_000)) > 0.5).astype(float)
    twolayer.fit(X[:, :100], Y[:, :100], 0.1, 8, 2, backend=backend)  # load and compile
    def interrupt():
        time.sleep(1.0)
        global sent
        sent = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=interrupt, daemon=True).start()
    try:
        twolayer.fit(X, Y, 0.1, 64, 1_000_000, backend=backend, n_threads=1)
        print("not interrupted")
    except KeyboardInterrupt:
        print(f"stopped after {time.perf_counter() - sent:.3f}")
    # The process stays usable: a second fit gives the reference's numbers.
    from twolayer.datasets import make_moons
    Xm, Ym = make_moons(200, 0.2, seed=1)
    p, c = twolayer.fit(Xm, Ym, 0.3, 5, 300, backend=backend)
    pr, cr = twolayer.fit(Xm, Ym, 0.3, 5, 300, backend="numpy")
    print("second fit ok", bool(np.allclose(c, cr, rtol=1e-9, atol=0)))
    """
)


@pytest.mark.parametrize("backend", ALL)
def test_ctrl_c_stops_a_long_fit_quickly_and_leaves_the_process_usable(backend):
    stdout = _run_script(_INTERRUPT_SCRIPT, backend, timeout=300)
    stopped = [line for line in stdout.split("\n") if line.startswith("stopped after")]
    assert stopped, stdout
    # The issue asks for about half a second; the bound leaves room for a loaded machine.
    assert float(stopped[0].split()[-1]) < 1.5
    assert "second fit ok True" in stdout


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import twolayer
    backend = sys.argv[1]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 1_000_000))
    Y = (X[:1] > 0).astype(float)
    twolayer.fit(X[:, :3000], Y[:, :3000], 0.1, 64, 2, backend=backend)  # load, compile
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    twolayer.fit(X, Y, 0.1, 64, 2, backend=backend)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print((after - before) / X.nbytes)
    """
)


@pytest.mark.parametrize("backend", COMPILED)
def test_peak_memory_beyond_the_data_stays_small(backend):
    """1e6 samples x 20 features, hidden 64: at most 0.3 x X.nbytes more peak RSS."""
    stdout = _run_script(_MEMORY_SCRIPT, backend, timeout=600)
    assert float(stdout.split()[-1]) <= 0.3
