"""``twolayer bench``'s measurements: timing rounds, roofline rates, peak memory.

See ``_bench``'s docstring for how and why.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._bench_workloads import (
    COMPARATORS,
    TUTORIAL,
    Runner,
    Workload,
    limit_blas_threads,
    make_runner,
    missing_reason,
    settle,
)

Elementwise = Callable[[np.ndarray, np.ndarray, int], object]  # fn(x, out, repeats)

# Values per evaluation array. The kernels' functions loop ``repeats`` times over theirs
# inside one compiled call: 4096 values (32 KiB in float64, in and out in L1/L2) and no
# Python call cost in the timing. A NumPy ufunc call costs ~1 us whatever its size, so
# NumPy gets arrays 8x longer (still in L2) to make that cost ~3% of the call.
KERNEL_VALUES, NUMPY_VALUES = 4096, 32768


def _numpy_ufunc(ufunc: np.ufunc) -> Elementwise:
    def loop(x: np.ndarray, out: np.ndarray, repeats: int) -> None:
        for _ in range(repeats):
            ufunc(x, out=out)

    return loop


def _domains(size: int, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Arguments in the ranges the kernels evaluate: tanh of hidden pre-activations,
    exp(-|z|) and log1p of a value in [0, 1]."""
    x = np.random.default_rng(0).uniform(-3, 3, size).astype(dtype)
    return {"tanh": x, "exp": -np.abs(x), "log1p": np.abs(x) / 3}


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
    size: int,
) -> dict[str, float]:
    """Evaluations per second of each function on ``size`` values that stay in L1/L2,
    one thread, times the thread count: evaluations on separate cores share nothing,
    and timing them concurrently from Python threads measures the GIL hand-offs
    between such short calls (measured here: 2 threads no faster than 1), not the
    hardware."""
    repeats = max(1, (200_000 if quick else 2_000_000) // size)
    rounds = 3 if quick else 5
    args = _domains(size, dtype)
    out = np.empty(size, dtype)
    rates = {}
    for key, fn in functions.items():
        loop = functools.partial(fn, args[key], out, repeats)
        loop()
        # This thread's CPU time: the core's rate, not how much of it a loaded machine
        # left us (the runners' wall times show that).
        seconds = _best_time(loop, rounds, time.thread_time)
        rates[f"{key}_per_s"] = threads * size * repeats / seconds
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
    kernel can beat), tanh/exp/log1p at the kernels' own rates on in-cache data,
    repeated inside one compiled call (KERNEL_VALUES).
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
    ufuncs = {"tanh": np.tanh, "exp": np.exp, "log1p": np.log1p}
    numpy_loops = {key: _numpy_ufunc(u) for key, u in ufuncs.items()}
    numpy_rates = _transcendental_rates(numpy_loops, dtype, threads, quick, NUMPY_VALUES)
    rates.update({f"numpy_{k}": v for k, v in numpy_rates.items()})

    own = kernel_rates(dtype, threads, quick)
    if own:
        rates.update(own)
    else:  # no compiled kernels: NumPy's rates
        rates["multiply_adds_per_s"] = rates["blas_multiply_adds_per_s"]
        rates.update(numpy_rates)

    # Bytes per second: summing an array far larger than the caches, one slice per thread.
    big = np.ones((64 if quick else 512) * 2**20 // dtype.itemsize, dtype=dtype)
    slices = np.array_split(big, threads)
    stream = _concurrently(lambda i: slices[i].sum(), threads)
    stream()
    rates["bytes_per_s"] = big.nbytes / _best_time(stream, rounds)
    return rates


def kernel_rates(dtype: np.dtype, threads: int, quick: bool = False) -> dict[str, float]:
    """The bound's compute rates from the compiled kernels alone (see measure_rates):
    cheap enough (~20 ms) to take again between the rounds of the runners, so that
    on a machine whose speed drifts the bound sees the fast phases the runners see
    (measured here: the same tanh loop at 0.82 and 1.06 G/s a few seconds apart).
    Empty without the compiled kernels."""
    kernels = kernel_build()
    if kernels is None:
        return {}
    dtype = np.dtype(dtype)
    own = {"tanh": kernels.tanh, "exp": kernels.exp_neg, "log1p": kernels.log1p_unit}
    return {
        "multiply_adds_per_s": _peak_rate(kernels, dtype == np.float32, threads, quick),
        **_transcendental_rates(own, dtype, threads, quick, KERNEL_VALUES),
    }


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
    code = "import sys, twolayer._bench_measure as b; b._probe_main(sys.argv[1])"
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
    after_round: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Warm, then time all runners round-robin; measure their memory; compare to numpy.

    ``after_round`` runs after each round (the bench measures the bound's rates
    again there). The roofline columns are added afterwards by ``add_roofline``.
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
            settle(threads)
            started = time.perf_counter()
            final_cost = runners[name]()
            results[name]["times_s"].append(time.perf_counter() - started)
            results[name]["final_cost"] = final_cost
        if after_round is not None:
            after_round()

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
    """Per rate, the best of several measurements (those that have it): load from
    others only ever slows a rate."""
    return {key: max(m[key] for m in measured if key in m) for key in measured[0]}
