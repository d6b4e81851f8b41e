"""``twolayer bench``: every available backend on one workload, side by side.

    twolayer bench                                  # the tutorial's run
    twolayer bench --workload large --threads 2
    twolayer bench --scale n_samples --values 1000,10000,100000
    twolayer bench --compare sklearn,torch --json

How it measures, and why:

- **Interleaved, best of several.** Every runner (our backends, then
  scikit-learn and PyTorch when asked for) is warmed once (this loads the
  extension, compiles or loads Numba's cache, imports torch), then the timed
  repeats go round-robin, the order rotating each round, so that drift on a
  shared machine hits all of them alike. The table shows the best time; the
  JSON has every sample. Speedups are ratios of times measured in this run,
  never against a stored number.
- **Fair.** The same data, iterations, learning rate and starting weights for
  every runner (scikit-learn and PyTorch are given our initial weights, so the
  final costs must agree with the reference: the last column checks that the
  comparison is of the same computation). One thread each unless
  ``--threads``: our ``n_threads``, ``threadpoolctl`` for NumPy's and
  scikit-learn's BLAS, ``torch.set_num_threads`` for PyTorch.
- **Peak memory beyond the data** is measured in a fresh subprocess per
  runner, after its data exist and after a warm-up fit on a tiny problem (so
  that import-time memory, LLVM for Numba or torch's libraries, is not counted
  as training memory). ``rss`` is the rise of the peak resident set size
  during the fit: the kernel's high-water mark (VmHWM) is reset through
  ``/proc/self/clear_refs`` and read from ``/proc/self/status``
  (``resource.getrusage`` where that is unavailable). It sees every
  allocation (NumPy, BLAS buffers, OpenMP stacks, Numba, torch) but is page
  granular, so glibc's malloc is told to map large blocks afresh
  (``MALLOC_MMAP_THRESHOLD_``) and freed memory cannot hide a new peak.
  ``traced`` is ``tracemalloc``'s peak of a second fit: exact, but it only
  sees allocations made through Python and NumPy, which is everything for the
  reference and scikit-learn and next to nothing for compiled kernels or torch.
- **Roofline, from the machine.** The work of one iteration is counted
  (multiply-adds n·h·(2f+3o), n·h tanh, n·o exp and n·o log1p evaluations,
  X.nbytes read) and divided by rates measured before and after the timings
  (the better of the two) with the same dtype and thread count: the peak of a
  register-only loop of vector multiply-adds in the kernel build this CPU
  loads (``fma_peak``: what the core can do, with no memory traffic), the
  kernels' own tanh/exp/log1p on arrays that stay in cache (evaluations/s on
  one thread, times the thread count), and a sum over an array much larger
  than the caches, one slice per thread (bytes/s). The bound is max(compute,
  memory); the table shows which fraction of it each runner reaches. NumPy's
  BLAS and ufunc rates are printed for information only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

COMPARATORS = ("sklearn", "torch", "jax")
TUTORIAL = "tutorial"  # the article's literal NumPy code, next to the reference in every table
PLOT_HINT = 'pip install "twolayer[plot]"'
INSTALL_HINTS = {
    "sklearn": 'pip install scikit-learn (or "twolayer[bench]")',
    "torch": "pip install torch (a CPU build)",
    "jax": 'pip install jax (or "twolayer[bench]")',
}
SCALE_DEFAULTS = {
    "n_samples": (1_000, 10_000, 100_000, 1_000_000),
    "hidden": (4, 16, 64, 256),
    "features": (2, 20, 200),
}
SCALE_ITERATIONS = 3  # default iterations of each --scale point
SEED = 3  # fit()'s default seed: the tutorial's initial weights
Runner = Callable[[], float]
Elementwise = Callable[[np.ndarray, np.ndarray], object]  # fn(x, out)


@dataclasses.dataclass(frozen=True)
class Workload:
    """One training run: data shape, model size, iterations, learning rate."""

    name: str
    n_samples: int
    n_features: int
    hidden: int
    n_outputs: int
    iterations: int
    learning_rate: float

    def work(self, itemsize: int) -> dict[str, int]:
        """What one iteration must do, whatever the implementation."""
        n, f, h, o = self.n_samples, self.n_features, self.hidden, self.n_outputs
        return {
            "multiply_adds": n * h * (2 * f + 3 * o),
            "tanh": n * h,
            "exp": n * o,
            "log1p": n * o,
            "x_bytes": n * f * itemsize,
        }

    def data(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """X (features, samples) and Y (outputs, samples), deterministic."""
        if self.n_features == 2 and self.n_outputs == 1 and self.name == "tutorial":
            from .datasets import make_moons

            X, Y = make_moons(n_samples=self.n_samples, noise=0.2, seed=0)
        else:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((self.n_features, self.n_samples))
            teacher = rng.standard_normal((self.n_outputs, self.n_features))
            noise = rng.standard_normal((self.n_outputs, self.n_samples))
            Y = (teacher @ X + noise > 0).astype(np.float64)
        return X.astype(dtype), Y.astype(dtype)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.n_samples:,} samples x {self.n_features} features, "
            f"hidden {self.hidden}, {self.n_outputs} output(s), "
            f"{self.iterations} iterations, lr {self.learning_rate:g}"
        )


WORKLOADS = {
    # The tutorial's run: two moons, 500 samples, noise 0.2, lr 0.3, hidden 5.
    "tutorial": Workload("tutorial", 500, 2, 5, 1, 5000, 0.3),
    # The kernels' "large" target: 100,000 x 20, hidden 64; a few iterations suffice.
    "large": Workload("large", 100_000, 20, 64, 1, 10, 0.3),
}


# --------------------------------------------------------------------- threads


@contextlib.contextmanager
def limit_blas_threads(threads: int) -> Iterator[str | None]:
    """Limit NumPy's (and scikit-learn's) BLAS pool; yields a note when it cannot."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "threadpoolctl is not installed: NumPy's BLAS threads are not limited"
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield None


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads")
    return [
        {k: pool.get(k) for k in keys} for pool in threadpool_info() if pool["user_api"] == "blas"
    ]


# --------------------------------------------------------------------- runners


def _initial_params(wl: Workload) -> dict[str, np.ndarray]:
    from ._params import Layout, initial_parameters

    layout = Layout(wl.n_features, wl.hidden, wl.n_outputs)
    return layout.unpack(initial_parameters(layout, np.dtype(np.float64), SEED))


def _twolayer_runner(
    backend: str, X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int
) -> Runner:
    from . import fit

    def run() -> float:
        _, costs = fit(
            X,
            Y,
            wl.learning_rate,
            wl.hidden,
            wl.iterations,
            backend=backend,
            dtype=X.dtype,
            n_threads=threads,
            seed=SEED,
        )
        return float(costs[-1])

    return run


def _sklearn_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    init = _initial_params(wl)
    start = [
        (init["W1"].T.copy(), init["b1"].ravel().copy()),
        (init["W2"].T.copy(), init["b2"].ravel().copy()),
    ]

    class SameStartMLP(MLPClassifier):  # type: ignore[misc]  # scikit-learn: no type information
        """MLPClassifier starting from our initial weights instead of Glorot's."""

        def _init_coef(self, fan_in: int, fan_out: int, dtype: Any) -> Any:
            coef, intercept = start[len(self.coefs_)]
            return coef.astype(dtype), intercept.astype(dtype)

    Xs = np.ascontiguousarray(X.T)  # scikit-learn's layout: (samples, features)
    ys = Y.ravel() if wl.n_outputs == 1 else np.ascontiguousarray(Y.T)

    def run() -> float:
        clf = SameStartMLP(
            hidden_layer_sizes=(wl.hidden,),
            activation="tanh",
            solver="sgd",
            alpha=0.0,
            batch_size=wl.n_samples,
            learning_rate="constant",
            learning_rate_init=wl.learning_rate,
            max_iter=wl.iterations,
            shuffle=False,
            momentum=0.0,
            nesterovs_momentum=False,
            early_stopping=False,
            tol=0.0,  # with n_iter_no_change > max_iter: never stops early
            n_iter_no_change=wl.iterations + 1,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xs, ys)
        # loss_curve_[j] is the full-batch loss before update j, like our costs[j].
        return float(clf.loss_curve_[-1])

    return run


def _torch_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    import torch

    torch.set_num_threads(threads)
    init = _initial_params(wl)
    tdtype = torch.float32 if X.dtype == np.float32 else torch.float64
    Xt = torch.from_numpy(np.ascontiguousarray(X.T))  # (samples, features)
    Yt = torch.from_numpy(np.ascontiguousarray(Y.T))

    def run() -> float:
        model = torch.nn.Sequential(
            torch.nn.Linear(wl.n_features, wl.hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(wl.hidden, wl.n_outputs),
        ).to(tdtype)
        with torch.no_grad():
            for layer, w, b in ((model[0], "W1", "b1"), (model[2], "W2", "b2")):
                layer.weight.copy_(torch.from_numpy(init[w]))
                layer.bias.copy_(torch.from_numpy(init[b].ravel()))
        optimizer = torch.optim.SGD(model.parameters(), lr=wl.learning_rate, momentum=0.0)
        # Our cost sums the outputs' mean losses: "mean" over all elements times n_outputs.
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="mean")
        loss = torch.zeros(())
        for _ in range(wl.iterations):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt), Yt) * wl.n_outputs
            loss.backward()
            optimizer.step()
        return float(loss.item())

    return run


def _tutorial_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """The tutorial's code as the article wrote it (its own seed-3 start: ours)."""
    from . import _tutorial

    def run() -> float:
        _, costs = _tutorial.fit(X, Y, wl.learning_rate, wl.hidden, wl.iterations)
        return float(costs[-1])

    return run


def _jax_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """The same fit as a JAX user would write it: the stable cost, jax.value_and_grad,
    the whole loop in one jax.jit'ed lax.fori_loop (XLA fuses the elementwise work)."""
    if threads == 1 and "jax" not in sys.modules:  # one core, as ours (read at import)
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 as asked, not silently float32
    init = _initial_params(wl)
    dtype = jnp.float32 if X.dtype == np.float32 else jnp.float64
    start = tuple(
        jnp.asarray(init[k], dtype).reshape(-1, 1) if k[0] == "b" else jnp.asarray(init[k], dtype)
        for k in ("W1", "b1", "W2", "b2")
    )
    Xj, Yj = jnp.asarray(X, dtype), jnp.asarray(Y, dtype)
    m, lr = X.shape[1], wl.learning_rate

    def cost(params: tuple[Any, ...]) -> Any:
        W1, b1, W2, b2 = params
        Z2 = W2 @ jnp.tanh(W1 @ Xj + b1) + b2
        return jnp.sum(jnp.maximum(Z2, 0) - Yj * Z2 + jnp.log1p(jnp.exp(-jnp.abs(Z2)))) / m

    value_and_grad = jax.value_and_grad(cost)

    def step(_: int, state: tuple[Any, Any]) -> tuple[Any, Any]:
        params, _ = state
        value, grads = value_and_grad(params)  # cost before this update, like our costs[j]
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), value

    train = jax.jit(lambda p: jax.lax.fori_loop(0, wl.iterations, step, (p, jnp.zeros((), dtype))))

    def run() -> float:
        return float(train(start)[1])  # float() waits for the result

    return run


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
        return False


def missing_reason(name: str) -> str | None:
    """Why runner ``name`` cannot run here, or None when it can."""
    from ._backends import BACKENDS, available_backends

    if name in BACKENDS:
        if name in available_backends():
            return None
        return f"backend {name!r} is not available in this installation"
    if name in COMPARATORS:
        if not has_module(name):
            return f"not installed: {INSTALL_HINTS[name]}"
        return None
    if name == TUTORIAL:
        return None
    return f"unknown runner {name!r}"


def make_runner(name: str, X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """A callable running the whole fit of ``wl`` with runner ``name``; returns the last cost."""
    if name == "sklearn":
        return _sklearn_runner(X, Y, wl, threads)
    if name == "torch":
        return _torch_runner(X, Y, wl, threads)
    if name == "jax":
        return _jax_runner(X, Y, wl, threads)
    if name == TUTORIAL:
        return _tutorial_runner(X, Y, wl, threads)
    return _twolayer_runner(name, X, Y, wl, threads)


# ---------------------------------------------------------------------- rates


def _best_time(
    fn: Callable[[], object], rounds: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = clock()
        fn()
        best = min(best, clock() - started)
    return best


def _concurrently(fn: Callable[[int], object], threads: int) -> Callable[[], None]:
    """``fn(i)`` on ``threads`` Python threads at once (NumPy releases the GIL in its loops)."""
    if threads == 1:
        def once() -> None:
            fn(0)

        return once

    def run() -> None:
        workers = [threading.Thread(target=fn, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return run


def kernel_build() -> Any | None:
    """The compiled kernel module whose rates set the roofline (None if not installed)."""
    from ._backends import load_backend

    try:
        return load_backend("cython")
    except (ImportError, ValueError, OSError):
        return None


def _transcendental_rates(
    functions: dict[str, Elementwise],
    dtype: np.dtype,
    threads: int,
    quick: bool,
) -> dict[str, float]:
    """Evaluations per second of each function on an array that stays in L1/L2, one
    thread, times the thread count: evaluations on separate cores share nothing, and
    timing them concurrently from Python threads measures the GIL hand-offs between
    such short calls (measured here: 2 threads no faster than 1), not the hardware."""
    rng = np.random.default_rng(0)
    size, calls, rounds = 4096, (20 if quick else 200), (3 if quick else 5)
    x = rng.uniform(-3, 3, size).astype(dtype)
    args = {"tanh": x, "exp": -np.abs(x), "log1p": np.abs(x) / 3}  # the kernels' domains
    out = np.empty_like(x)
    rates = {}
    for key, fn in functions.items():

        def loop(fn: Elementwise = fn, arg: np.ndarray = args[key]) -> None:
            for _ in range(calls):
                fn(arg, out)

        loop()
        # This thread's CPU time: the core's rate, not how much of it a loaded machine
        # left us (the runners' wall times show that).
        rates[f"{key}_per_s"] = threads * size * calls / _best_time(loop, rounds, time.thread_time)
    return rates


def _peak_rate(kernels: Any, single: bool, threads: int, quick: bool) -> float:
    """Multiply-adds/s of the kernels' register-only loop on ``threads`` threads at once,
    each timed by its own CPU time (the loop releases the GIL)."""
    peak_rounds, rounds = (500_000, 3) if quick else (2_000_000, 5)
    per_thread = [0.0] * threads

    def run(i: int) -> None:
        loop = functools.partial(kernels.fma_peak, peak_rounds, single)
        done = loop()[0]
        per_thread[i] = done / _best_time(loop, rounds, time.thread_time)

    _concurrently(run, threads)()
    return sum(per_thread)


def measure_rates(dtype: np.dtype, threads: int, quick: bool = False) -> dict[str, float]:
    """Rates for the roofline, with this dtype and thread count.

    The bound comes from the machine as the compiled kernels use it: multiply-adds
    at the peak of a register-only loop of vector multiply-adds in the kernel
    build this CPU loads (``fma_peak``, no memory traffic: an upper bound no
    kernel can beat), tanh/exp/log1p at the kernels' own rates on in-cache data.
    NumPy's BLAS and ufunc rates are kept for information (``blas_``/``numpy_``
    keys): on CPUs without AVX-512 NumPy's tanh/exp/log1p are scalar libm, 10x
    slower than the kernels', and a bound from them says nothing. Without the
    compiled kernels the bound falls back to NumPy's rates.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    rounds = 3 if quick else 5
    rates: dict[str, float] = {}

    # For information: a large matrix product through NumPy's BLAS.
    n = 384 if quick else 1536
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    C = np.empty_like(A)
    with limit_blas_threads(threads):
        np.matmul(A, B, out=C)
        rates["blas_multiply_adds_per_s"] = n**3 / _best_time(
            lambda: np.matmul(A, B, out=C), rounds
        )
    ufuncs = {
        "tanh": lambda a, out: np.tanh(a, out=out),
        "exp": lambda a, out: np.exp(a, out=out),
        "log1p": lambda a, out: np.log1p(a, out=out),
    }
    numpy_rates = _transcendental_rates(ufuncs, dtype, threads, quick)
    rates.update({f"numpy_{k}": v for k, v in numpy_rates.items()})

    kernels = kernel_build()
    if kernels is None:
        rates["multiply_adds_per_s"] = rates["blas_multiply_adds_per_s"]
        rates.update(numpy_rates)
    else:
        rates["multiply_adds_per_s"] = _peak_rate(kernels, dtype == np.float32, threads, quick)
        own = {"tanh": kernels.tanh, "exp": kernels.exp_neg, "log1p": kernels.log1p_unit}
        rates.update(_transcendental_rates(own, dtype, threads, quick))

    # Bytes per second: summing an array far larger than the caches, one slice per thread.
    big = np.ones((64 if quick else 512) * 2**20 // dtype.itemsize, dtype=dtype)
    slices = np.array_split(big, threads)
    stream = _concurrently(lambda i: slices[i].sum(), threads)
    stream()
    rates["bytes_per_s"] = big.nbytes / _best_time(stream, rounds)
    return rates


def roofline(work: dict[str, int], rates: dict[str, float]) -> dict[str, Any]:
    """Lower bound on the time of one iteration, and which resource sets it."""
    parts = {
        "multiply_adds": work["multiply_adds"] / rates["multiply_adds_per_s"],
        "transcendentals": work["tanh"] / rates["tanh_per_s"]
        + work["exp"] / rates["exp_per_s"]
        + work["log1p"] / rates["log1p_per_s"],
    }
    compute = sum(parts.values())
    memory = work["x_bytes"] / rates["bytes_per_s"]
    limit = "memory" if memory > compute else max(parts, key=parts.__getitem__)
    return {
        "bound_s": max(compute, memory),
        "compute_s": compute,
        "memory_s": memory,
        "limit": limit,
        "parts_s": parts,
    }


# --------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _memory_probe(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: peak memory of one fit of runner ``spec['name']`` beyond its data."""
    import resource

    wl = Workload(**spec["workload"])
    dtype = np.dtype(spec["dtype"])
    threads = int(spec["threads"])
    name = spec["name"]
    with limit_blas_threads(threads):
        tiny = dataclasses.replace(wl, n_samples=min(wl.n_samples, 64), iterations=2)
        make_runner(name, *tiny.data(dtype), tiny, threads)()  # imports, compiles, loads
        short = dataclasses.replace(wl, iterations=min(wl.iterations, 3))
        X, Y = short.data(dtype)
        run = make_runner(name, X, Y, short, threads)  # the data in the runner's own layout
        gc.collect()
        method = "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets the peak RSS to the current RSS
            before = _status_kib("VmRSS")
        except OSError:
            before = None
        if before is None:
            method = "ru_maxrss"
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run()
        after = _status_kib("VmHWM") if method == "VmHWM" else None
        if after is None:
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        gc.collect()
        tracemalloc.start()
        run()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "rss_bytes": max(0, after - before) * 1024,
        "traced_bytes": int(traced),
        "method": method,
        "x_bytes": int(X.nbytes),
    }


def measure_memory(name: str, wl: Workload, dtype: np.dtype, threads: int) -> dict[str, Any]:
    spec = {
        "name": name,
        "workload": dataclasses.asdict(wl),
        "dtype": np.dtype(dtype).name,
        "threads": threads,
    }
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    code = "import sys, twolayer._bench as b; b._probe_main(sys.argv[1])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"memory probe failed: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _probe_main(spec_json: str) -> None:
    print(json.dumps(_memory_probe(json.loads(spec_json))))


# ---------------------------------------------------------------------- bench


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def run_point(
    wl: Workload,
    names: Sequence[str],
    dtype: np.dtype,
    threads: int,
    repeat: int,
    memory: bool,
    quiet: bool = False,
) -> dict[str, Any]:
    """Warm, then time all runners round-robin; measure their memory; compare to numpy.

    The roofline columns are added afterwards by ``add_roofline``.
    """
    X, Y = wl.data(dtype)
    results: dict[str, dict[str, Any]] = {}
    runners: dict[str, Runner] = {}
    for name in names:
        entry: dict[str, Any] = {
            "name": name,
            "kind": "comparator" if name in (*COMPARATORS, TUTORIAL) else "backend",
        }
        results[name] = entry
        reason = missing_reason(name)
        if reason is not None:
            entry.update(status="missing", reason=reason)
            continue
        _log(f"  warming {name}", quiet)
        try:
            run = make_runner(name, X, Y, wl, threads)
            started = time.perf_counter()
            run()
            entry["first_call_s"] = time.perf_counter() - started
        except Exception as exc:  # a comparator's failure is reported, not fatal
            entry.update(status="error", reason=f"{type(exc).__name__}: {exc}")
            continue
        entry.update(status="ok", times_s=[])
        runners[name] = run
    order = list(runners)
    for r in range(repeat):
        _log(f"  round {r + 1}/{repeat}", quiet)
        shift = r % max(len(order), 1)
        for name in order[shift:] + order[:shift]:
            started = time.perf_counter()
            final_cost = runners[name]()
            results[name]["times_s"].append(time.perf_counter() - started)
            results[name]["final_cost"] = final_cost

    reference = results.get("numpy", {})
    tutorial = results.get(TUTORIAL, {})
    for name in order:
        entry = results[name]
        entry["time_per_iter_s"] = min(entry["times_s"]) / max(wl.iterations, 1)
        # What the first fit costs beyond a warm one: loading, Numba's compile or cache load.
        entry["first_use_s"] = max(0.0, entry["first_call_s"] - min(entry["times_s"]))
    for name in order:
        entry = results[name]
        if reference.get("status") == "ok":
            entry["speedup"] = reference["time_per_iter_s"] / entry["time_per_iter_s"]
        if tutorial.get("status") == "ok":  # what a user of the article's code gains
            entry["vs_tutorial"] = tutorial["time_per_iter_s"] / entry["time_per_iter_s"]
            ref_cost = reference["final_cost"]
            entry["cost_rel_diff"] = abs(entry["final_cost"] - ref_cost) / max(
                abs(ref_cost), 1e-300
            )
        if memory:
            _log(f"  memory of {name} (subprocess)", quiet)
            entry["memory"] = measure_memory(name, wl, dtype, threads)
    return {
        "workload": dataclasses.asdict(wl),
        "work_per_iteration": wl.work(np.dtype(dtype).itemsize),
        "results": list(results.values()),
    }


def add_roofline(point: dict[str, Any], rates: dict[str, float]) -> None:
    """The bound of one iteration, and the fraction of it each runner reaches."""
    point["roofline"] = bound = roofline(point["work_per_iteration"], rates)
    for entry in point["results"]:
        if entry["status"] == "ok":
            entry["roofline_fraction"] = bound["bound_s"] / entry["time_per_iter_s"]


def best_rates(*measured: dict[str, float]) -> dict[str, float]:
    """Per rate, the best of several measurements: load from others only ever slows a rate."""
    return {key: max(m[key] for m in measured) for key in measured[0]}


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    from . import __version__

    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "twolayer": __version__,
        "blas": blas_info(),
        "blas_env": env,
        # Other processes compete for the cores: the ratios stay comparable, absolute times less.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _fmt_time(seconds: float) -> str:
    if seconds <= 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _fmt_percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%" if fraction >= 0.1 else f"{100 * fraction:.2g}%"


def _fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def format_point(point: dict[str, Any]) -> str:
    """The table of one workload."""
    wl = Workload(**point["workload"])
    work, bound = point["work_per_iteration"], point["roofline"]
    lines = [
        f"workload {wl.describe()}",
        f"work per iteration: {work['multiply_adds']:.3g} multiply-adds, {work['tanh']:.3g} tanh, "
        f"{work['exp']:.3g} exp + {work['log1p']:.3g} log1p, {_fmt_bytes(work['x_bytes'])} of X"
        f" -> roofline bound {_fmt_time(bound['bound_s'])}/iteration ({bound['limit']})",
        "",
    ]
    header = (
        "runner",
        "time/iter",
        "speedup",
        "vs tutorial",
        "of bound",
        "peak mem (rss)",
        "traced",
        "first use",
        "cost vs numpy",
    )
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for entry in point["results"]:
        name = entry["name"] + (" (ref)" if entry["name"] == "numpy" else "")
        if entry["status"] != "ok":
            notes.append(f"{entry['name']}: {entry['status']}: {entry['reason']}")
            rows.append((name, entry["status"], "-", "-", "-", "-", "-", "-", "-"))
            continue
        mem = entry.get("memory")
        if mem is None:
            rss = traced = "-"
        elif "error" in mem:
            rss = traced = "error"
            notes.append(f"{entry['name']}: {mem['error']}")
        else:
            ratio = mem["rss_bytes"] / mem["x_bytes"] if mem["x_bytes"] else 0.0
            rss = f"{_fmt_bytes(mem['rss_bytes'])} ({ratio:.2g}x X)"
            traced = _fmt_bytes(mem["traced_bytes"])
        speedup = f"{entry['speedup']:.2f}x" if "speedup" in entry else "-"
        vs_tutorial = f"{entry['vs_tutorial']:.2f}x" if "vs_tutorial" in entry else "-"
        diff = f"{entry['cost_rel_diff']:.1e}" if "cost_rel_diff" in entry else "-"
        rows.append(
            (
                name,
                _fmt_time(entry["time_per_iter_s"]),
                speedup,
                vs_tutorial,
                _fmt_percent(entry["roofline_fraction"]),
                rss,
                traced,
                _fmt_time(entry["first_use_s"]),
                diff,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    lines.extend(f"  note: {n}" for n in notes)
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    m, s, r = report["machine"], report["settings"], report["rates"]
    threads = s["threads"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']}" for b in m["blas"])
    out = [
        f"twolayer {m['twolayer']}",
        f"machine: {m['cpu']}, {m['usable_cpus']} of {m['cpus']} CPUs usable, {m['system']}, "
        f"Python {m['python']}, NumPy {m['numpy']} ({blas or 'BLAS unknown'})",
        f"settings: {s['dtype']}, {threads} thread{'s' if threads > 1 else ''}, "
        f"best of {s['repeat']} interleaved rounds"
        + (
            f"; load average {m['load_average'][0]:.2f} on {m['usable_cpus']} CPUs at the start"
            if m.get("load_average")
            else ""
        ),
        f"roofline rates ({s['dtype']}, {threads} thread{'s' if threads > 1 else ''}, "
        f"from {s.get('roofline_from') or 'NumPy: compiled kernels not installed'}): "
        f"peak {r['multiply_adds_per_s'] / 1e9:.3g} G multiply-adds/s, "
        f"tanh {r['tanh_per_s'] / 1e9:.3g} G/s, exp {r['exp_per_s'] / 1e9:.3g} G/s, "
        f"log1p {r['log1p_per_s'] / 1e9:.3g} G/s, stream {r['bytes_per_s'] / 1e9:.3g} GB/s",
        f"  for information: BLAS matmul {r['blas_multiply_adds_per_s'] / 1e9:.3g} G/s, "
        f"NumPy tanh {r['numpy_tanh_per_s'] / 1e9:.3g} G/s, exp {r['numpy_exp_per_s'] / 1e9:.3g}"
        f" G/s, log1p {r['numpy_log1p_per_s'] / 1e9:.3g} G/s",
    ]
    out.extend(f"warning: {n}" for n in report["notes"])
    for point in report["points"]:
        out.extend(["", format_point(point)])
    if len(report["points"]) > 1:
        out.extend(["", format_scaling(report)])
    out.extend(
        [
            "",
            "speedup: over the numpy reference, same run; vs tutorial: over the article's"
            " literal code (tutorial), same run;",
            "of bound: roofline bound / time (peak multiply-adds, the kernels' tanh/exp/log1p);",
            "peak mem: rise of peak RSS during a fit, fresh process per runner;",
            "traced: tracemalloc peak (Python/NumPy allocations only);",
            "first use: extra time of the first fit (loading; Numba's compile or cache load);",
            "cost vs numpy: relative difference of the last cost (same start, same iterations).",
        ]
    )
    return "\n".join(out)


def format_scaling(report: dict[str, Any]) -> str:
    """Time per iteration along the scaled dimension, and per unit of work (flat = linear)."""
    dim = report["settings"]["scale"]
    key = {"n_samples": "n_samples", "hidden": "hidden", "features": "n_features"}[dim]
    points = report["points"]
    names = [e["name"] for e in points[0]["results"]]
    header = ("runner", *(f"{dim}={p['workload'][key]:,}" for p in points))
    rows = []
    for name in names:
        cells = [name]
        for p in points:
            entry = next(e for e in p["results"] if e["name"] == name)
            if entry["status"] != "ok":
                cells.append("-")
                continue
            per_work = entry["time_per_iter_s"] / p["roofline"]["bound_s"]
            cells.append(f"{_fmt_time(entry['time_per_iter_s'])} ({per_work:.3g}x)")
        rows.append(tuple(cells))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"scaling in {dim}: time/iteration (time / roofline bound: flat means linear)"]
    lines += [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = report["points"]
    s = report["settings"]
    if len(points) == 1:
        ok = [e for e in points[0]["results"] if e["status"] == "ok" and "speedup" in e]
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(ok) + 1.6))
        names = [e["name"] for e in ok]
        speedups = [e["speedup"] for e in ok]
        bars = ax.barh(
            names, speedups, color=["#888" if e["kind"] == "comparator" else "#3a7" for e in ok]
        )
        for bar, e in zip(bars, ok, strict=True):
            ax.annotate(
                f" {e['speedup']:.2f}x, {_fmt_percent(e['roofline_fraction'])} of bound",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
            )
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("speedup over the NumPy reference (log scale)")
        ax.set_xlim(right=max(speedups) * 8)
        ax.set_title(f"{points[0]['workload']['name']}: {s['dtype']}, {s['threads']} thread(s)")
    else:
        dim = s["scale"]
        key = {"n_samples": "n_samples", "hidden": "hidden", "features": "n_features"}[dim]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        xs = [p["workload"][key] for p in points]
        for name in [e["name"] for e in points[0]["results"]]:
            pairs = [
                (x, e["time_per_iter_s"])
                for x, p in zip(xs, points, strict=True)
                for e in p["results"]
                if e["name"] == name and e["status"] == "ok"
            ]
            if pairs:
                ax.plot(*zip(*pairs, strict=True), marker="o", label=name)
        ax.plot(xs, [p["roofline"]["bound_s"] for p in points], "k--", label="roofline bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(dim)
        ax.set_ylabel("seconds per iteration")
        ax.legend()
        ax.set_title(f"scaling in {dim}: {s['dtype']}, {s['threads']} thread(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------ CLI


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._backends import BACKENDS

    parser.add_argument(
        "--workload",
        choices=sorted([*WORKLOADS, "predict"]),
        default=None,
        help="tutorial (500 two-moons samples, hidden 5, 5000 iterations) or "
        "large (100,000 x 20, hidden 64, 10 iterations); default: tutorial, "
        f"or with --scale: large with {SCALE_ITERATIONS} iterations; "
        "predict: predict_proba on 1,000,000 x 20, hidden 64 (see _bench_predict.py)",
    )
    group = parser.add_argument_group("workload overrides")
    for flag, what in (
        ("--n-samples", "samples"),
        ("--features", "features (rows of X)"),
        ("--hidden", "hidden units"),
        ("--outputs", "sigmoid outputs (rows of Y)"),
        ("--iterations", "iterations of every fit"),
    ):
        group.add_argument(flag, type=_positive_int, metavar="N", help=f"number of {what}")
    group.add_argument("--learning-rate", type=float, metavar="LR")
    parser.add_argument(
        "--scale",
        choices=sorted(SCALE_DEFAULTS),
        help="run the workload at several sizes along one dimension",
    )
    parser.add_argument(
        "--values",
        metavar="N,N,...",
        type=lambda t: [_positive_int(v) for v in _csv(t)],
        help="sizes for --scale, comma separated (default: "
        + "; ".join(f"{k} {','.join(map(str, v))}" for k, v in SCALE_DEFAULTS.items())
        + ")",
    )
    parser.add_argument(
        "--backends",
        metavar="NAME,...",
        type=_csv,
        default=None,
        help=f"our backends to run, comma separated (default: every available one "
        f"of {','.join(BACKENDS)}; numpy, the reference, always runs)",
    )
    parser.add_argument(
        "--compare",
        metavar="sklearn,torch",
        type=_csv,
        default=[],
        help="also run other libraries: sklearn,torch (missing ones are reported)",
    )
    parser.add_argument(
        "--threads", type=_positive_int, default=1, help="threads for every runner (default: 1)"
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=3,
        help="timed rounds, interleaved; the best counts (default: 3)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory subprocesses"
    )
    parser.add_argument(
        "--quick-rates",
        action="store_true",
        help="smaller, noisier roofline rate measurements (for tests)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--plot", metavar="OUT.png", help=f"draw a chart (needs matplotlib: {PLOT_HINT})"
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``twolayer``'s subparsers."""
    parser = subparsers.add_parser(
        "bench",
        help="time every backend (and scikit-learn/PyTorch) side by side",
        description="Time every available backend on one workload, interleaved, "
        "against the NumPy reference, with peak memory and a roofline estimate.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run_cli)
    return parser


def _workloads(args: argparse.Namespace) -> list[Workload]:
    if args.workload is None and args.scale is not None:
        # Scaling multiplies sizes up to 1e6 samples: the tutorial's 5000 iterations would
        # take the reference half an hour there.
        wl = dataclasses.replace(WORKLOADS["large"], iterations=SCALE_ITERATIONS)
    else:
        wl = WORKLOADS[args.workload or "tutorial"]
    overrides = {
        "n_samples": args.n_samples,
        "n_features": args.features,
        "hidden": args.hidden,
        "n_outputs": args.outputs,
        "iterations": args.iterations,
        "learning_rate": args.learning_rate,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise ValueError(f"--learning-rate must be > 0, got {args.learning_rate}")
    if overrides:
        wl = dataclasses.replace(wl, name=f"{wl.name} (modified)", **overrides)
    if args.scale is None:
        if args.values:
            raise ValueError("--values needs --scale")
        return [wl]
    key = {"n_samples": "n_samples", "hidden": "hidden", "features": "n_features"}[args.scale]
    values = args.values or SCALE_DEFAULTS[args.scale]
    return [
        dataclasses.replace(wl, name=f"{wl.name}, {args.scale}={v}", **{key: v}) for v in values
    ]


def run_cli(args: argparse.Namespace) -> int:
    from ._backends import BACKENDS, available_backends

    if args.workload == "predict":  # its own table: prediction, not training
        from ._bench_predict import run_cli as run_predict

        return run_predict(args)

    workloads = _workloads(args)
    for name in args.compare:
        if name not in COMPARATORS:
            raise ValueError(f"--compare takes {','.join(COMPARATORS)}; got {name!r}")
    backends = args.backends if args.backends is not None else list(available_backends())
    for name in backends:
        if name not in BACKENDS:
            raise ValueError(f"--backends takes {','.join(BACKENDS)}; got {name!r}")
    names = ["numpy", TUTORIAL, *(b for b in backends if b != "numpy"), *args.compare]
    if args.plot and not has_module("matplotlib"):
        raise ValueError(f"--plot needs matplotlib: {PLOT_HINT}")
    dtype = np.dtype(args.dtype)
    quiet = args.json
    notes = []
    machine = machine_info()
    if machine["blas_env"]:
        notes.append(
            f"{' and '.join(machine['blas_env'])} set: NumPy's BLAS may run a slower "
            "kernel than this CPU allows (unset both for this command)"
        )
    with limit_blas_threads(args.threads) as note:
        if note:
            notes.append(note)
        _log("measuring rates for the roofline", quiet)
        rates_before = measure_rates(dtype, args.threads, quick=args.quick_rates)
        points = []
        for wl in workloads:
            _log(wl.describe(), quiet)
            points.append(
                run_point(
                    wl,
                    names,
                    dtype,
                    args.threads,
                    args.repeat,
                    memory=not args.no_memory,
                    quiet=quiet,
                )
            )
        _log("measuring rates again (the best of both counts)", quiet)
        rates = best_rates(rates_before, measure_rates(dtype, args.threads, args.quick_rates))
        for point in points:
            add_roofline(point, rates)
    report = {
        "version": 1,
        "machine": machine,
        "settings": {
            "dtype": dtype.name,
            "threads": args.threads,
            "repeat": args.repeat,
            "scale": args.scale,
            "runners": names,
            "roofline_from": getattr(kernel_build(), "__name__", None),
        },
        "rates": rates,
        "notes": notes,
        "points": points,
    }
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
        if args.plot:
            print(f"chart written to {args.plot}")
        else:
            print(f"for a chart: --plot out.png (needs matplotlib: {PLOT_HINT})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m twolayer._bench``: the same as ``twolayer bench``."""
    parser = argparse.ArgumentParser(prog="twolayer bench")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_cli(args)
    except (ValueError, TypeError) as exc:
        print(f"twolayer bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
