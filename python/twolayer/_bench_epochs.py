"""``twolayer bench --workload epoch``: a mini-batch epoch against a full-batch iteration.

Issue 15's target: an epoch of Adam in batches of 200 costs at most 1.3x one
full-batch iteration on the same data (100,000 x 20, hidden 64, one thread).
Per backend, through the public ``fit`` (so the Python layer's cost counts too),
timed interleaved, best of ``--repeat``:

* one full-batch iteration (``fit``'s default path);
* one epoch of Adam, batch 200, in order (``shuffle=False``) and shuffled;

and the ratio of each epoch to the iteration. Before timing, every backend's
epochs are checked against the NumPy reference's on the first 5,000 samples.

``--compare sklearn`` also times scikit-learn's MLPClassifier doing the same
epochs (tanh, Adam, batch 200, alpha 1e-4, ``max_iter=1``, from the same
initial weights set up by ``to_sklearn``; only its ``fit`` is timed), in order
and shuffled (its own order: the same work, other batches), and reports how far
its in-order epoch is from the reference's (cost and weights), as the main
table's comparators report their cost. A missing scikit-learn is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ._bench_isa import format_isa, isa_report

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


def sklearn_epoch_model(
    X: np.ndarray, Y: np.ndarray, hidden: int, shuffle: bool
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(MLPClassifier, samples, labels) whose ``fit`` (``sklearn_fit``) does ``run_epoch``'s
    epoch from fit's initial weights; the MLPClassifier is set up by ``to_sklearn``."""
    from sklearn.neural_network import MLPClassifier

    from ._convert import to_sklearn
    from ._params import Layout, initial_parameters

    layout = Layout(X.shape[0], hidden, Y.shape[0])
    start = layout.unpack(initial_parameters(layout, X.dtype, 3))  # fit's default seed
    mlp = MLPClassifier(
        hidden_layer_sizes=(hidden,), activation="tanh", solver="adam", alpha=1e-4,
        batch_size=BATCH, learning_rate_init=1e-3, max_iter=1, shuffle=shuffle,
        warm_start=True, random_state=0,  # warm start: from to_sklearn's weights
    )  # fmt: skip
    to_sklearn(start, [0, 1], estimator=mlp)
    return mlp, X.T, Y[0].astype(np.int64)  # scikit-learn's layout (X.T: C order here)


def sklearn_fit(mlp: Any, samples: np.ndarray, labels: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is the point
        return mlp.fit(samples, labels)


def sklearn_epoch(
    X: np.ndarray, Y: np.ndarray, hidden: int, shuffle: bool
) -> tuple[float, dict[str, np.ndarray], float]:
    """scikit-learn doing ``run_epoch``'s epoch: (seconds of its ``fit`` alone, the
    weights as ``fit`` returns them, the epoch's cost)."""
    from ._convert import params_from_sklearn

    mlp, samples, labels = sklearn_epoch_model(X, Y, hidden, shuffle)
    started = time.perf_counter()
    sklearn_fit(mlp, samples, labels)
    seconds = time.perf_counter() - started
    return seconds, params_from_sklearn(mlp), float(mlp.loss_curve_[0])


def _sklearn_error(X: np.ndarray, Y: np.ndarray, hidden: int) -> float:
    """The largest relative difference of scikit-learn's in-order epoch (weights and
    cost) from the NumPy reference's on the first CHECK_SAMPLES samples."""
    Xs, Ys = X[:, :CHECK_SAMPLES], Y[:, :CHECK_SAMPLES]
    _, params, cost = sklearn_epoch(Xs, Ys, hidden, False)
    expected, expected_costs = run_epoch("numpy", Xs, Ys, hidden, False, 1)
    worst = abs(cost - float(expected_costs[0])) / abs(float(expected_costs[0]))
    for key, value in expected.items():
        scale = max(float(np.max(np.abs(value))), 1e-300)
        worst = max(worst, float(np.max(np.abs(params[key] - value))) / scale)
    return worst


def _best_of_one(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from . import available_backends
    from ._bench_workloads import limit_blas_threads, missing_reason, settle

    n = args.n_samples or DEFAULTS["n_samples"]
    f = args.features or DEFAULTS["n_features"]
    h = args.hidden or DEFAULTS["hidden"]
    dtype = np.dtype(args.dtype)
    threads, rounds = args.threads, args.repeat
    compare = list(getattr(args, "compare", None) or [])
    for name in compare:
        if name != "sklearn":
            raise ValueError(f"--workload epoch compares with sklearn only; got {name!r}")
    compiled = [b for b in available_backends() if b != "numpy"]
    backends = [b for b in (args.backends or compiled) if b in compiled]
    X, Y = data(n, f, dtype)
    errors = {b: check(b, X, Y, h, threads) for b in backends}  # also warms (Numba compiles)
    runs: dict[str, dict[str, Callable[[], float]]] = {
        b: {
            "iteration": partial(_best_of_one, partial(run_iteration, b, X, Y, h, threads)),
            "epoch": partial(_best_of_one, partial(run_epoch, b, X, Y, h, False, threads)),
            "shuffled epoch": partial(_best_of_one, partial(run_epoch, b, X, Y, h, True, threads)),
        }
        for b in backends
    }
    sklearn: dict[str, Any] | None = None
    with limit_blas_threads(threads):  # scikit-learn's BLAS on as many threads as ours
        if "sklearn" in compare:
            reason = missing_reason("sklearn")
            if reason is not None:
                sklearn = {"status": "missing", "reason": reason}
            else:
                sklearn = {"status": "ok", "reference_error": _sklearn_error(X, Y, h)}
                runs["scikit-learn"] = {
                    "epoch": lambda: sklearn_epoch(X, Y, h, False)[0],
                    "shuffled epoch": lambda: sklearn_epoch(X, Y, h, True)[0],
                }
        times = {b: {name: float("inf") for name in runs[b]} for b in runs}
        for _ in range(rounds):  # interleaved: load changes hit every runner alike
            for b, named in runs.items():
                for name, fn in named.items():
                    settle(threads)
                    times[b][name] = min(times[b][name], fn())
    if sklearn is not None and sklearn["status"] == "ok":
        sklearn["times"] = times.pop("scikit-learn")
    return {
        "workload": dict(n_samples=n, n_features=f, hidden=h, batch_size=BATCH,
                         dtype=dtype.name, threads=threads, repeat=rounds),
        **isa_report(backends),
        "load_average": list(os.getloadavg()),
        "times": times,
        "reference_error": errors,
        **({"sklearn": sklearn} if sklearn is not None else {}),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def format_report(r: dict[str, Any]) -> str:
    w = r["workload"]
    lines = [
        f"epoch of Adam (batch {w['batch_size']}) vs one full-batch iteration: "
        f"{w['n_samples']:,} samples x {w['n_features']} features, hidden {w['hidden']}, "
        f"{w['dtype']}, {w['threads']} thread(s), best of {w['repeat']}",
        f"load average {r['load_average'][0]:.1f}",
        *format_isa(r["isa"], r["warnings"], r.get("limit")),
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
    sk = r.get("sklearn")
    if sk is not None and sk["status"] != "ok":
        lines += ["", f"scikit-learn: {sk['status']} ({sk['reason']})"]
    elif sk is not None:
        t = sk["times"]
        lines += [
            "",
            f"scikit-learn MLPClassifier, the same epochs (max_iter=1, same initial weights): "
            f"{_ms(t['epoch'])} in order, {_ms(t['shuffled epoch'])} shuffled; "
            f"vs reference {sk['reference_error']:.1e}",
        ]
        for b, ours in r["times"].items():
            lines.append(
                f"  {b}: {t['epoch'] / ours['epoch']:.1f}x faster in order, "
                f"{t['shuffled epoch'] / ours['shuffled epoch']:.1f}x shuffled"
            )
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """``twolayer bench --workload epoch`` (bench's other options: --threads, --dtype,
    --repeat, --backends, --n-samples, --features, --hidden, --compare sklearn, --json)."""
    report = measure(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
