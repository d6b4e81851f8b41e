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
  X.nbytes read) and divided by rates measured before the timings, after each
  round (the compiled kernels' rates) and after them (the best of every count)
  with the same dtype and thread count: the peak of a
  register-only loop of vector multiply-adds in the kernel build this CPU
  loads (``fma_peak``: what the core can do, with no memory traffic), the
  kernels' own tanh/exp/log1p on arrays that stay in cache, looped inside one
  compiled call so that no Python call cost is counted (evaluations/s on one
  thread, times the thread count), and a sum over an array much larger
  than the caches, one slice per thread (bytes/s). The bound is max(compute,
  memory); the table shows which fraction of it each runner reaches. NumPy's
  BLAS and ufunc rates are printed for information only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._bench_isa import LIMITED_MARKER, isa_report, limited_environment
from ._bench_measure import (
    _log,
    add_roofline,
    best_rates,
    kernel_build,
    kernel_rates,
    measure_rates,
    run_point,
)
from ._bench_report import format_report, plot_report
from ._bench_workloads import (
    COMPARATORS,
    PLOT_HINT,
    SCALE_DEFAULTS,
    SCALE_ITERATIONS,
    TUTORIAL,
    WORKLOADS,
    Workload,
    has_module,
    limit_blas_threads,
)
from ._machine import machine_info


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
        choices=sorted([*WORKLOADS, "predict", "epoch"]),
        default=None,
        help="tutorial (500 two-moons samples, hidden 5, 5000 iterations) or "
        "large (100,000 x 20, hidden 64, 10 iterations); default: tutorial, "
        f"or with --scale: large with {SCALE_ITERATIONS} iterations; "
        "predict: predict_proba on 1,000,000 x 20, hidden 64 (see _bench_predict.py); "
        "epoch: an Adam epoch, batch 200, vs one full-batch iteration on 100,000 x 20, "
        "hidden 64 (see _bench_epochs.py)",
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
        "--isa",
        choices=("native", "avx2"),
        default="native",
        help="avx2: run in a child process in which every runner is limited to AVX2 "
        "(ours, Numba, NumPy's dispatch, OpenBLAS/MKL, XLA, PyTorch): an AVX2 "
        "machine's comparison, on an AVX-512 one (default: native)",
    )
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


def _run_limited(args: argparse.Namespace) -> int:
    """This command again in a child process whose every runner is limited to
    ``args.isa`` (variables that NumPy, OpenBLAS, XLA and the rest read when they
    load, so not settable in this process). Returns the child's exit code."""
    env = limited_environment(args.isa, os.environ)
    settings = {k: v for k, v in vars(args).items() if k != "handler"}
    code = "import sys; from twolayer._bench import run_json; sys.exit(run_json(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, json.dumps(settings)], env=env).returncode


def run_json(settings: str) -> int:
    """``run_cli`` on arguments given as JSON (the child of ``_run_limited``)."""
    return _run_reporting_errors(argparse.Namespace(**json.loads(settings)))


def _run_reporting_errors(args: argparse.Namespace) -> int:
    """``run_cli``, a bad argument reported on stderr with exit code 2."""
    try:
        return run_cli(args)
    except (ValueError, TypeError) as exc:
        print(f"twolayer bench: error: {exc}", file=sys.stderr)
        return 2


def run_cli(args: argparse.Namespace) -> int:
    from ._backends import BACKENDS, available_backends

    if args.isa != "native" and os.environ.get(LIMITED_MARKER) != args.isa:
        return _run_limited(args)
    if args.workload == "predict":  # its own table: prediction, not training
        from ._bench_predict import run_cli as run_predict

        return run_predict(args)
    if args.workload == "epoch":  # its own table: epochs against an iteration
        from ._bench_epochs import run_cli as run_epochs

        return run_epochs(args)

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
    isa = isa_report(b for b in backends if b in available_backends())
    notes.extend(isa["warnings"])
    if machine["blas_env"] and isa["limit"] is None:  # --isa sets them on purpose
        notes.append(
            f"{' and '.join(machine['blas_env'])} set: NumPy's BLAS may run a slower "
            "kernel than this CPU allows (unset both for this command)"
        )
    with limit_blas_threads(args.threads) as note:
        if note:
            notes.append(note)
        _log("measuring rates for the roofline", quiet)
        measured = [measure_rates(dtype, args.threads, quick=args.quick_rates)]

        def measure_kernel_rates() -> None:
            measured.append(kernel_rates(dtype, args.threads, args.quick_rates))

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
                    after_round=measure_kernel_rates,
                )
            )
        _log("measuring rates again (the best of every count)", quiet)
        measured.append(measure_rates(dtype, args.threads, args.quick_rates))
        rates = best_rates(*measured)
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
        "isa": isa["isa"],
        "limit": isa["limit"],
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
    return _run_reporting_errors(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
