"""``twolayer bench --workload predict``: prediction side by side (issue 12's targets).

On one data set (default 1,000,000 x 20, hidden 64, the issue's case), timed
interleaved, best of ``--repeat``:

* ``predict_proba`` on every backend, next to the tutorial's NumPy forward
  (``tanh(W1 @ X + b1)``, ``sigmoid(W2 @ A1 + b2)``) and scikit-learn's
  ``MLPClassifier.predict_proba`` given the same weights;
* one training iteration of the same backend on the same data (the issue's
  "at most 0.6x" bar), and with ``--threads`` > 1 the one-thread time too;
* peak memory beyond X and the output, in a fresh process per backend;
* the small calls: one-sample ``predict_proba``, the estimator's one-row
  ``predict_proba``, and ``fit`` of one iteration on 100 samples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import timeit
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ._bench_isa import format_isa, isa_report

DEFAULTS = {"n_samples": 1_000_000, "n_features": 20, "hidden": 64}
SMALL_SAMPLES = 100  # the small fit's samples
# Issue 12's bars for the three small calls (one sample, the estimator's one row, the fit).
SMALL_TARGETS = (15e-6, 60e-6, 80e-6)


def _params(n_features: int, hidden: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """A trained-looking network: the tutorial's initial weights, biases made nonzero."""
    from ._params import Layout, initial_parameters

    layout = Layout(n_features, hidden, 1)
    params = layout.unpack(initial_parameters(layout, np.dtype(np.float64), 3))
    rng = np.random.default_rng(1)
    params["b1"] = rng.normal(size=(hidden, 1)) * 0.1
    params["b2"] = np.array([[0.2]])
    return {k: v.astype(dtype) for k, v in params.items()}


def _data(n_samples: int, n_features: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_features, n_samples)).astype(dtype, copy=False)
    Y = (X[:1] + 0.5 * X[1:2] > 0).astype(dtype) if n_features > 1 else (X > 0).astype(dtype)
    return X, Y


def numpy_forward(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The tutorial's forward pass, as a user would write it."""
    A1 = np.tanh(params["W1"] @ X + params["b1"])
    return 1 / (1 + np.exp(-(params["W2"] @ A1 + params["b2"])))


def sklearn_model(params: dict[str, np.ndarray]) -> Any:
    """An MLPClassifier holding our weights (tanh hidden layer, logistic output)."""
    from sklearn.neural_network import MLPClassifier

    hidden, n_features = params["W1"].shape
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="tanh")
    clf.coefs_ = [params["W1"].T.copy(), params["W2"].T.copy()]
    clf.intercepts_ = [params["b1"].ravel().copy(), params["b2"].ravel().copy()]
    clf.n_features_in_ = n_features
    clf.n_outputs_ = 1
    clf.n_layers_ = 3
    clf.out_activation_ = "logistic"
    clf.classes_ = np.array([0, 1])
    return clf


def _best(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _small_call(fn: Callable[[], object]) -> float:
    """CPU seconds of the calling thread per call: best of 7 rounds of enough calls to
    last ~20 ms. A small call runs in this thread alone (one block: one thread), so
    this is its cost; wall time also counted the other processes' turns on a shared
    machine (measured, load 4 on 2 cores: the same fit read 50 to 134 us from one run
    to the next)."""
    fn()
    count = max(1, int(0.02 / max(_best(fn, 3), 1e-7)))
    return min(timeit.repeat(fn, number=count, repeat=7, timer=time.thread_time)) / count


_PROBE = """
import gc, json, sys, numpy as np
from twolayer import _bench_predict as b
spec = json.loads(sys.argv[1])
dtype = np.dtype(spec["dtype"])
params = b._params(spec["n_features"], spec["hidden"], dtype)
X, _ = b._data(spec["n_samples"], spec["n_features"], dtype)
b.run_once(spec["name"], params, X[:, :4096], spec["threads"])  # imports, compiles, warms
gc.collect()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak RSS starts again from the current RSS
before = b.status_kib("VmRSS")
out = b.run_once(spec["name"], params, X, spec["threads"])
print(json.dumps({"before": before, "after": b.status_kib("VmHWM"), "out": int(out.nbytes)}))
"""


def status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_once(name: str, params: dict[str, np.ndarray], X: np.ndarray, threads: int) -> Any:
    """One prediction of runner ``name`` (a backend, "numpy forward" or "scikit-learn")."""
    from ._api import predict_proba

    if name == "numpy forward":
        return numpy_forward(params, X)
    if name == "scikit-learn":
        return sklearn_model(params).predict_proba(X.T)
    return predict_proba(params, X, backend=name, n_threads=threads)


def extra_memory(name: str, n_samples: int, n_features: int, hidden: int, dtype: np.dtype,
                 threads: int) -> float | None:  # fmt: skip
    """Peak memory of one prediction beyond X and the output, in bytes (fresh process)."""
    spec = {"name": name, "n_samples": n_samples, "n_features": n_features, "hidden": hidden,
            "dtype": dtype.name, "threads": threads}  # fmt: skip
    # As _bench's probe: large blocks mapped afresh, so freed memory cannot hide a peak.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(spec)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        return None
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return max(0.0, (got["after"] - got["before"]) * 1024.0 - got["out"])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from ._api import fit, predict_proba
    from ._backends import available_backends
    from ._bench_workloads import settle
    from .estimator import TwoLayerClassifier

    n = args.n_samples or DEFAULTS["n_samples"]
    f = args.features or DEFAULTS["n_features"]
    h = args.hidden or DEFAULTS["hidden"]
    dtype = np.dtype(args.dtype)
    threads, rounds = args.threads, args.repeat
    backends = [b for b in (args.backends or available_backends()) if b in available_backends()]
    params = _params(f, h, dtype)
    X, Y = _data(n, f, dtype)
    runners = ["numpy forward", *backends]
    try:
        import sklearn  # noqa: F401

        runners.insert(1, "scikit-learn")
    except ImportError:
        pass
    times: dict[str, float] = {name: float("inf") for name in runners}
    train: dict[str, float] = {b: float("inf") for b in backends}
    one_thread: dict[str, float] = {b: float("inf") for b in backends if threads > 1}
    expected = numpy_forward({k: v.astype(np.float64) for k, v in params.items()},
                             X[:, :5000].astype(np.float64))  # fmt: skip
    for name in runners:  # warm up (Numba compiles) and check every runner's numbers
        got = run_once(name, params, X[:, :5000], threads)
        got = got[:, 1:].T if name == "scikit-learn" else got
        error = float(np.max(np.abs(got - expected)))
        if error > (1e-12 if dtype == np.float64 else 1e-5):
            raise AssertionError(f"{name}: predictions differ from the reference by {error:.3g}")
    for b in backends:
        fit(X[:, :64], Y[:, :64], 0.3, h, 1, backend=b, n_threads=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the tutorial's exp overflows
        for _ in range(rounds):  # interleaved: load changes hit every runner alike
            for name in runners:
                one_run = partial(run_once, name, params, X, threads)
                settle(threads)
                times[name] = min(times[name], _best(one_run, 1))
            for b in backends:
                one_fit = partial(fit, X, Y, 0.3, h, 1, backend=b, n_threads=threads)
                settle(threads)
                train[b] = min(train[b], _best(one_fit, 1))
                if b in one_thread:
                    single = partial(predict_proba, params, X, backend=b, n_threads=1)
                    one_thread[b] = min(one_thread[b], _best(single, 1))
    memory = {}
    if not args.no_memory:
        for name in runners:
            memory[name] = extra_memory(name, n, f, h, dtype, threads)
    small = {}
    Xs, Ys = _data(SMALL_SAMPLES, f, dtype)
    one, row = Xs[:, :1].copy(), np.ascontiguousarray(Xs[:, :1].T)
    for b in backends:
        clf = TwoLayerClassifier(hidden_size=h, max_iter=1, backend=b).fit(Xs.T, Ys.ravel())
        one_sample = partial(predict_proba, params, one, backend=b)
        small[b] = {
            "predict_proba, one sample": _small_call(one_sample),
            "estimator predict_proba, one row": _small_call(partial(clf.predict_proba, row)),
            f"fit, 1 iteration on {SMALL_SAMPLES} samples": _small_call(
                partial(fit, Xs, Ys, 0.3, h, 1, backend=b)
            ),
        }
    return {
        "workload": dict(n_samples=n, n_features=f, hidden=h, dtype=dtype.name,
                         threads=threads, repeat=rounds),
        **isa_report(backends),
        "load_average": list(os.getloadavg()),
        "predict": times,
        "train_iteration": train,
        "one_thread": one_thread,
        "extra_memory": memory,
        "x_bytes": int(X.nbytes),
        "small": small,
    }


def _t(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def format_report(r: dict[str, Any]) -> str:
    w = r["workload"]
    lines = [
        f"predict_proba on {w['n_samples']:,} samples x {w['n_features']} features, "
        f"hidden {w['hidden']}, {w['dtype']}, {w['threads']} thread(s), best of {w['repeat']}",
        f"load average {r['load_average'][0]:.1f}",
        *format_isa(r["isa"], r["warnings"], r.get("limit")),
        "",
        f"{'runner':<16}{'time':>10}{'NumPy fwd / this':>18}{'this / 1 train it':>19}"
        f"{'extra peak / X':>16}",
    ]
    base = r["predict"]["numpy forward"]
    for name, seconds in r["predict"].items():
        train = r["train_iteration"].get(name)
        extra = r["extra_memory"].get(name)
        lines.append(
            f"{name:<16}{_t(seconds):>10}{base / seconds:>17.1f}x"
            + (f"{seconds / train:>18.2f}x" if train else f"{'':>19}")
            + (f"{extra / r['x_bytes']:>16.3f}" if extra is not None else f"{'':>16}")
        )
    for name, seconds in r["one_thread"].items():
        lines.append(f"{name}: {w['threads']} threads vs 1: {seconds / r['predict'][name]:.2f}x "
                     "speedup")  # fmt: skip
    lines += ["", "small calls (per call, CPU time of the calling thread):"]
    for name, calls in r["small"].items():
        lines.append(f"  {name}: " + ", ".join(f"{k} {_t(v)}" for k, v in calls.items()))
    lines.append("(issue 12's targets, compiled backends: " +
                 ", ".join(f"{_t(v)}" for v in SMALL_TARGETS) + ", in that order)")
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """``twolayer bench --workload predict`` (bench's other options: --threads, --dtype,
    --repeat, --backends, --n-samples, --features, --hidden, --no-memory, --json)."""
    report = measure(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
