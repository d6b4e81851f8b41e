"""Fork safety: after a threaded fit in the parent, forked children fit and predict.

GNU OpenMP's pool and Numba's omp layer do not survive fork (the child hung
or was killed); twolayer._fork makes such a child run single-threaded. Each
case runs in a subprocess with a timeout, so a hang fails instead of hanging CI.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import twolayer

SCRIPT = textwrap.dedent(
    """
    import multiprocessing, os, pickle, sys
    import numpy as np
    import twolayer
    from twolayer import _fork, _validation

    backend = sys.argv[1]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 20000))
    Y = (X[:1] + 0.5 * X[1:2] > 0).astype(np.float64)

    def run(n_threads):
        params, costs = twolayer.fit(X, Y, 0.5, 6, 30, backend=backend, n_threads=n_threads)
        proba = twolayer.predict_proba(params, X, backend=backend, n_threads=n_threads)
        return params, costs, proba

    def child(_):
        return run(None), _validation.check_n_threads(None), _validation.check_n_threads(2)

    def same(a, b):
        (pa, ca, qa), (pb, cb, qb) = a, b
        return all(np.array_equal(pa[k], pb[k]) for k in pa) and np.array_equal(ca, cb) \\
            and np.array_equal(qa, qb)

    # A child forked before any threaded fit keeps its threads.
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _validation.check_n_threads(2) == 2 else 3)
    assert os.waitpid(pid, 0)[1] == 0, "a child forked before any fit lost its threads"

    parent = run(2)  # 20,000 samples: 10 blocks over 2 threads, so the pools are started
    assert parent[1][-1] < parent[1][0]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(child, range(2))
    for result, default, explicit in results:
        assert same(result, parent), "a pool worker's fit differs from the parent's"
        assert (default, explicit) == (1, 1), (default, explicit)

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # os.fork directly: the same hook
        os.close(read)
        with os.fdopen(write, "wb") as out:
            pickle.dump(run(2), out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        forked = pickle.load(handle)
    assert os.waitpid(pid, 0)[1] == 0
    assert same(forked, parent), "an os.fork child's fit differs from the parent's"
    assert not _fork.threads_unusable()  # the parent keeps its threads
    print("ok", backend, float(parent[1][-1]))
    """
)


@pytest.mark.parametrize("backend", twolayer.available_backends())
def test_forked_children_fit_like_the_parent(backend, tmp_path):
    script = tmp_path / "fork_case.py"
    script.write_text(SCRIPT)
    # A session of its own, so that a hang's pool workers are killed with the script.
    proc = subprocess.Popen(
        [sys.executable, str(script), backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # A hang fails here; a run takes seconds (plus a cold Numba compile).
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{backend}: forked children hung (240 s)\n{err}")
    assert proc.returncode == 0, err
    assert out.startswith(f"ok {backend}"), out + err
