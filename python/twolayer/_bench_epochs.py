"""``twolayer bench --workload epoch``: a mini-batch epoch against a full-batch iteration.

Issue 15's target: an epoch of Adam in batches of 200 costs at most 1.3x one
full-batch iteration on the same data (100,000 x 20, hidden 64, one thread).
Per backend, through the public ``fit`` (so the Python layer's cost counts too),
timed interleaved, best of ``--repeat``:

* one full-batch iteration (``fit``'s default path);
* one epoch of Adam, batch 200, in order (``shuffle=False``) and shuffled;

and the ratio of each epoch to the iteration. Before timing, every backend's
epochs are checked against the NumPy reference's on the first 5,000 samples.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

DEFAULTS = {"n_samples": 100_000, "n_features": 20, "hidden": 64}
BATCH = 200
TARGET = 1.3  # the bar for the in-order epoch, one thread
CHECK_SAMPLES = 5000


def data(n_samples: int, n_features: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """X (features x samples, the transpose of a C-ordered array as users hold it) and Y."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype).T
    Y = (X[:1] + 0.5 * X[1:2] > 0).astype(dtype)
    return X, Y


def run_epoch(
    backend: str, X: np.ndarray, Y: np.ndarray, hidden: int, shuffle: bool, threads: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One epoch of Adam, batch 200 (scikit-learn's defaults otherwise)."""
    from . import fit

    return fit(X, Y, 1e-3, hidden, 1, solver="adam", batch_size=BATCH, shuffle=shuffle,
               alpha=1e-4, backend=backend, n_threads=threads)  # fmt: skip


def run_iteration(
    backend: str, X: np.ndarray, Y: np.ndarray, hidden: int, threads: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One full-batch iteration: fit's default path."""
    from . import fit

    return fit(X, Y, 0.3, hidden, 1, backend=backend, n_threads=threads)


def check(backend: str, X: np.ndarray, Y: np.ndarray, hidden: int, threads: int) -> float:
    """The largest relative difference of this backend's epochs (in order and shuffled)
    from the NumPy reference's on the first CHECK_SAMPLES samples; raises past 1e-10
    (float64) or 1e-3 (float32)."""
    Xs, Ys = X[:, :CHECK_SAMPLES], Y[:, :CHECK_SAMPLES]
    worst = 0.0
    for shuffle in (False, True):
        params, costs = run_epoch(backend, Xs, Ys, hidden, shuffle, threads)
        expected, expected_costs = run_epoch("numpy", Xs, Ys, hidden, shuffle, 1)
        for key, value in expected.items():
            scale = max(float(np.max(np.abs(value))), 1e-300)
            worst = max(worst, float(np.max(np.abs(params[key] - value))) / scale)
        worst = max(worst, abs(float(costs[0] - expected_costs[0])) / abs(float(expected_costs[0])))
    if worst > (1e-10 if X.dtype == np.float64 else 1e-3):
        raise AssertionError(f"{backend}: epochs differ from the reference by {worst:.3g}")
    return worst


def _best_of_one(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def isa() -> dict[str, str]:
    """What each compiled backend runs on here (TWOLAYER_CPU_FEATURES, NUMBA_CPU_NAME)."""
    from ._bench_predict import isa as predict_isa

    return predict_isa()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from . import available_backends

    n = args.n_samples or DEFAULTS["n_samples"]
    f = args.features or DEFAULTS["n_features"]
    h = args.hidden or DEFAULTS["hidden"]
    dtype = np.dtype(args.dtype)
    threads, rounds = args.threads, args.repeat
    compiled = [b for b in available_backends() if b != "numpy"]
    backends = [b for b in (args.backends or compiled) if b in compiled]
    X, Y = data(n, f, dtype)
    errors = {b: check(b, X, Y, h, threads) for b in backends}  # also warms (Numba compiles)
    runs: dict[str, dict[str, Callable[[], object]]] = {
        b: {
            "iteration": partial(run_iteration, b, X, Y, h, threads),
            "epoch": partial(run_epoch, b, X, Y, h, False, threads),
            "shuffled epoch": partial(run_epoch, b, X, Y, h, True, threads),
        }
        for b in backends
    }
    times = {b: {name: float("inf") for name in runs[b]} for b in backends}
    for _ in range(rounds):  # interleaved: load changes hit every runner alike
        for b in backends:
            for name, fn in runs[b].items():
                times[b][name] = min(times[b][name], _best_of_one(fn))
    return {
        "workload": dict(n_samples=n, n_features=f, hidden=h, batch_size=BATCH,
                         dtype=dtype.name, threads=threads, repeat=rounds),
        "isa": isa(),
        "load_average": list(os.getloadavg()),
        "times": times,
        "reference_error": errors,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def format_report(r: dict[str, Any]) -> str:
    w = r["workload"]
    lines = [
        f"epoch of Adam (batch {w['batch_size']}) vs one full-batch iteration: "
        f"{w['n_samples']:,} samples x {w['n_features']} features, hidden {w['hidden']}, "
        f"{w['dtype']}, {w['threads']} thread(s), best of {w['repeat']}",
        "ISA: " + (", ".join(f"{k} {v}" for k, v in r["isa"].items()) or "no compiled backend")
        + f"; load average {r['load_average'][0]:.1f}",
        "",
        f"{'backend':<10}{'iteration':>12}{'epoch':>12}{'/ iteration':>13}"
        f"{'shuffled':>12}{'/ iteration':>13}{'vs reference':>14}",
    ]
    for b, t in r["times"].items():
        it = t["iteration"]
        lines.append(
            f"{b:<10}{_ms(it):>12}{_ms(t['epoch']):>12}{t['epoch'] / it:>12.2f}x"
            f"{_ms(t['shuffled epoch']):>12}{t['shuffled epoch'] / it:>12.2f}x"
            f"{r['reference_error'][b]:>14.1e}"
        )
    lines.append(f"(issue 15's target: epoch / iteration <= {TARGET}, one thread)")
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """``twolayer bench --workload epoch`` (bench's other options: --threads, --dtype,
    --repeat, --backends, --n-samples, --features, --hidden, --json)."""
    report = measure(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
