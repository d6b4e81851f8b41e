"""The ``twolayer`` command (also ``python -m twolayer``).

    twolayer demo [--plot out.png]
    twolayer train data.csv --target COLUMN [--features A,B | --drop C] [--no-scale]
                   [--hidden 5 --lr 0.3 --iterations 5000] -o model.npz
    twolayer predict model.npz data.csv [-o predictions.csv]
    twolayer bench ...
    twolayer show-config | warmup | --version

Errors in the input (missing file or column, non-numeric data, bad option
value) print one line starting with ``twolayer: error:`` and exit with 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._cli_csv import CLIError, _labels, _write_csv, numeric_columns, read_csv

PLOT_HINT = 'the plot needs matplotlib: pip install "twolayer[plot]" (or pip install matplotlib)'


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _backend_names() -> list[str]:
    from ._backends import BACKENDS

    return ["auto", *BACKENDS]


def _writable(path: str | Path, what: str) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"cannot write {what} '{path}': directory '{parent}' does not exist")
    if path.is_dir():
        raise CLIError(f"cannot write {what} '{path}': it is a directory")
    return path


# ----------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    import twolayer
    from twolayer._backends import load_backend, resolve_backend
    from twolayer.datasets import make_moons

    plot_path = None
    if args.plot is not None:
        plot_path = _writable(args.plot, "the plot")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError(PLOT_HINT) from None

    X, Y = make_moons(n_samples=500, noise=0.2, seed=args.data_seed)
    name = resolve_backend(args.backend)
    started = time.perf_counter()
    load_backend(name)  # loading the extension or Numba's cache is not training time
    loading = time.perf_counter() - started

    def timed(backend: str) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
        started = time.perf_counter()
        params, costs = twolayer.fit(X, Y, 0.3, 5, args.iterations, backend=backend)
        return params, costs, time.perf_counter() - started

    params, costs, elapsed = timed(name)
    accuracy = float(np.mean(twolayer.predict(params, X) == Y))
    print("tutorial run: two moons, 500 samples, noise 0.2, lr 0.3, hidden 5")
    print(f"backend:    {name}")
    print(f"iterations: {args.iterations}")
    if costs.size:
        print(f"first cost: {costs[0]:.10f}")
        print(f"last cost:  {costs[-1]:.10f}")
    print(f"accuracy:   {accuracy:.4f}")
    print(f"time:       {elapsed:.4f} s (plus {loading:.3f} s loading the {name} backend)")
    if name != "numpy" and not args.no_reference:
        _, ref_costs, ref_elapsed = timed("numpy")
        agree = float(np.max(np.abs(ref_costs - costs) / np.abs(ref_costs))) if costs.size else 0.0
        print(f"reference:  {ref_elapsed:.4f} s (numpy backend; costs agree to {agree:.1e})")
        print(f"speedup:    {ref_elapsed / max(elapsed, 1e-9):.1f}x over the numpy reference")
    if plot_path is not None:
        _plot_demo(plot_path, X, Y, params, costs, name, accuracy)
        print(f"plot:       {plot_path}")
    return 0


def _plot_demo(
    path: Path,
    X: np.ndarray,
    Y: np.ndarray,
    params: dict[str, np.ndarray],
    costs: np.ndarray,
    backend: str,
    accuracy: float,
) -> None:
    """Cost curve and decision boundary side by side (no GUI: matplotlib's Agg canvas)."""
    from matplotlib.figure import Figure

    import twolayer

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_cost, ax_data = fig.subplots(1, 2)
    ax_cost.plot(np.arange(costs.size), costs, color="tab:blue")
    ax_cost.set(xlabel="iteration", ylabel="cost (binary cross-entropy)", yscale="log")
    ax_cost.set_title(f"cost: {costs[0]:.4f} → {costs[-1]:.4f}" if costs.size else "cost")
    ax_cost.grid(True, which="both", alpha=0.3)

    pad = 0.5
    xs = np.linspace(X[0].min() - pad, X[0].max() + pad, 300)
    ys = np.linspace(X[1].min() - pad, X[1].max() + pad, 300)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.vstack([gx.ravel(), gy.ravel()])
    proba = twolayer.predict_proba(params, grid)[0].reshape(gx.shape)
    filled = ax_data.contourf(gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax_data.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1.5)
    labels = Y[0]
    for value, colour, name in ((0, "tab:blue", "class 0"), (1, "tab:red", "class 1")):
        mask = labels == value
        ax_data.scatter(X[0, mask], X[1, mask], s=12, c=colour, edgecolors="k", lw=0.3, label=name)
    ax_data.set(xlabel="x1", ylabel="x2")
    ax_data.set_title(f"decision boundary (accuracy {accuracy:.3f})")
    ax_data.legend(loc="upper right")
    fig.colorbar(filled, ax=ax_data, label="P(class 1)")
    fig.suptitle(f"twolayer demo: two moons, hidden 5, lr 0.3, {costs.size} iterations, {backend}")
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------- train
def _train(args: argparse.Namespace) -> int:
    # The functional fit and sklearn-free helpers, not TwoLayerClassifier: importing
    # scikit-learn would take most of the command's time. The file is an estimator
    # model all the same (twolayer.load returns a TwoLayerClassifier).
    from . import _io
    from ._diagnostics import fit_problem
    from ._labels import _fit_targets, class_labels, logits
    from ._training import _fit

    output = _writable(args.output, "the model")
    header, rows = read_csv(args.data)
    if args.target not in header:
        raise CLIError(
            f"column '{args.target}' is not in '{args.data}'; its columns are: {', '.join(header)}"
        )
    features = _feature_columns(args, header)
    X = numeric_columns(args.data, header, rows, features, hint="or leave it out with --drop")
    column = header.index(args.target)
    targets = [row[column].strip() for row in rows]
    if any(not t for t in targets):
        line = next(i for i, t in enumerate(targets) if not t) + 2
        raise CLIError(f"'{args.data}' line {line}: the target column '{args.target}' is empty")
    y = _labels(targets)
    if y.dtype.kind == "f":
        raise CLIError(
            f"target column '{args.target}' holds continuous values; "
            "it must hold class labels (integers or text)"
        )
    if np.unique(y).size < 2:
        raise CLIError(f"target column '{args.target}' has a single class; need at least 2")
    kind, classes, Y = _fit_targets(y, len(rows), None)
    scaling = None if args.no_scale else _standardisation(X, features)
    if scaling is not None:
        X = (X - scaling[0]) / scaling[1]
    started = time.perf_counter()
    result = _fit(
        X.T, Y, args.lr, args.hidden, args.iterations, backend=args.backend, dtype=None,
        n_threads=None, seed=args.seed, verbose=args.verbose,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    settings = {
        "hidden_size": args.hidden, "learning_rate": args.lr, "max_iter": args.iterations,
        "backend": args.backend, "random_state": args.seed, "verbose": args.verbose,
    }  # fmt: skip
    arrays = _io.classifier_arrays(
        classes, kind, settings, result.costs, result.costs.size, feature_names=features
    )
    _io.save_classifier(output, result.params, arrays, scaling)
    accuracy = float(np.mean(class_labels(logits(result.params, X), kind, classes) == y))
    costs = result.costs
    print(f"data:       {len(rows)} samples, {len(features)} features ({', '.join(features)})")
    print(f"classes:    {', '.join(str(c) for c in classes)} (target '{args.target}')")
    scaled = "none (--no-scale)" if scaling is None else "standardised (mean 0, std 1)"
    print(f"scaling:    {scaled}")
    print(f"training:   {costs.size} iterations in {elapsed:.3f} s")
    if costs.size:
        print(f"cost:       {costs[0]:.6f} -> {costs[-1]:.6f}")
    print(f"accuracy:   {accuracy:.4f} (on the training data)")
    print(f"model:      {output}")
    problem = fit_problem(result.params, X.T, Y, costs)
    if problem is not None:
        hint = (
            "the data may need scaling: train without --no-scale"
            if scaling is None
            else "the features are standardised already: try another --lr, --hidden or "
            "--iterations"
        )
        print(f"twolayer: warning: {problem}; {hint}", file=sys.stderr)
    return 0


def _feature_columns(args: argparse.Namespace, header: list[str]) -> list[str]:
    """The feature columns: --features, or every column but the target and --drop."""

    def names(option: str, values: list[str] | None) -> list[str]:
        chosen = [name.strip() for value in values or [] for name in value.split(",")]
        unknown = [name for name in chosen if name not in header]
        if unknown:
            raise CLIError(
                f"{option}: no column {', '.join(repr(n) for n in unknown)} in '{args.data}'; "
                f"its columns are: {', '.join(header)}"
            )
        return chosen

    if args.features:
        features = list(dict.fromkeys(names("--features", args.features)))
        if args.target in features:
            raise CLIError(f"--features: '{args.target}' is the target, not a feature")
    else:
        dropped = set(names("--drop", args.drop))
        features = [name for name in header if name != args.target and name not in dropped]
    if not features:
        raise CLIError(f"'{args.data}' has no feature columns besides the target '{args.target}'")
    return features


def _standardisation(X: np.ndarray, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of each column; a constant column keeps scale 1, as StandardScaler does."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
    bad = [name for name, m, s in zip(features, mean, scale, strict=True)
           if not (np.isfinite(m) and np.isfinite(s))]  # fmt: skip
    if bad:
        raise CLIError(
            f"column(s) {', '.join(bad)} hold values too large to standardise; "
            "rescale them or use --no-scale"
        )
    scale[scale == 0] = 1.0
    return mean, scale


# -------------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    # Reads the model file without building an estimator, so scikit-learn is never imported.
    from ._api import predict_proba
    from ._io import read_model
    from ._labels import class_labels, class_probabilities, logits

    model_path = Path(args.model)
    if not model_path.exists():
        raise CLIError(f"model file '{model_path}' does not exist")
    output = _writable(args.output, "the predictions") if args.output else None
    model = read_model(model_path)
    header, rows = read_csv(args.data)
    n_features, names = model.params["W1"].shape[1], model.feature_names
    if names is not None:
        missing = [str(n) for n in names if n not in header]
        if missing:
            raise CLIError(
                f"'{args.data}' lacks the feature column(s) the model was trained on: "
                f"{', '.join(missing)}"
            )
        columns = [str(n) for n in names]
    else:  # a model saved from Python without names: every column, in order
        columns = header
        if len(columns) != n_features:
            raise CLIError(
                f"'{args.data}' has {len(columns)} columns, the model expects {n_features} features"
            )
    X = numeric_columns(args.data, header, rows, columns)
    if model.scaling is not None:
        X = (X - model.scaling[0]) / model.scaling[1]
    if model.kind == "params":
        proba = predict_proba(model.params, X.T).T
        labels = (proba > 0.5).astype(np.int64)
        out_header = [f"output_{i}" for i in range(proba.shape[1])]
        out_header += [f"proba_{i}" for i in range(proba.shape[1])]
        table = [
            [*map(str, lab), *(f"{p:.6g}" for p in pr)]
            for lab, pr in zip(labels, proba, strict=True)
        ]
    else:
        assert model.target_kind is not None and model.classes is not None
        Z = logits(model.params, X)
        labels = class_labels(Z, model.target_kind, model.classes)
        proba = class_probabilities(Z, model.target_kind)
        out_header = ["prediction", *(f"proba_{c}" for c in model.classes)]
        table = [
            [str(lab) if np.ndim(lab) == 0 else " ".join(map(str, lab)), *(f"{p:.6g}" for p in pr)]
            for lab, pr in zip(labels, proba, strict=True)
        ]
    if output is None:
        _write_csv(sys.stdout, out_header, table)
    else:
        with output.open("w", newline="") as handle:
            _write_csv(handle, out_header, table)
        print(f"wrote {len(table)} predictions to {output}")
    return 0


# ------------------------------------------------- version, show-config, warmup
def _version() -> str:
    from ._version import __version__

    return f"twolayer {__version__}"


def _show_config(args: argparse.Namespace) -> int:
    from ._show_config import show_config

    show_config()
    return 0


def _warmup(args: argparse.Namespace) -> int:
    from ._backends import unavailable_reason
    from ._warmup import warmup

    reason = unavailable_reason("numba")
    if reason is not None:
        raise CLIError(f"the numba backend does not load here: {reason}")
    report = warmup()
    for entry, state in report["entries"].items():
        print(f"{entry}: {state}")
    if report["cache_dir"] is None:
        raise CLIError(
            "no writable Numba cache directory: nothing was saved (set NUMBA_CACHE_DIR "
            "to a writable directory, for this command and for later processes)"
        )
    print(f"cache:  {report['cache_dir']}")
    print(f"time:   {report['seconds']:.1f} s")
    return 0


def _register_install_commands(sub: Any) -> None:
    config = sub.add_parser(
        "show-config",
        help="version, build, backends and their state, CPU features, BLAS",
        description="Print what a bug report needs: the version, how the compiled extension "
        "was built (compiler, OpenMP, instruction-set builds), each backend and its state "
        "(or why it does not load), the CPU's features and the BLAS.",
    )
    config.set_defaults(handler=_show_config)
    warm = sub.add_parser(
        "warmup",
        help="compile the Numba kernels into the cache (run once after installing)",
        description="Compile the numba backend's kernels for float64 and float32 into "
        "Numba's cache, so that no later process compiles them; prints where the cache is. "
        "Every pip install of twolayer empties that cache: run this after installing "
        "(in a container build, right after pip install).",
    )
    warm.set_defaults(handler=_warmup)


# --------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twolayer",
        description="Train two-layer tanh/sigmoid networks (full-batch gradient descent) fast.",
        epilog="Run 'twolayer COMMAND --help' for the options of a command. "
        "Without a command, 'twolayer' runs the demo.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    backends = _backend_names()

    demo = sub.add_parser(
        "demo",
        help="the tutorial's run on built-in two-moons data, with timing",
        description="Train the tutorial's network (two moons, 500 samples, noise 0.2, "
        "lr 0.3, hidden 5) on the fastest backend; print the first and last cost, the "
        "accuracy, the time and the speedup over the NumPy reference.",
    )
    demo.add_argument(
        "--plot",
        metavar="OUT.png",
        help="save the cost curve and the decision boundary side by side "
        '(needs matplotlib: pip install "twolayer[plot]")',
    )
    demo.add_argument(
        "--backend", default="auto", choices=backends, help="default: auto (the fastest)"
    )
    demo.add_argument(
        "--iterations", type=_nonnegative_int, default=5000, metavar="N", help="default: 5000"
    )
    demo.add_argument(
        "--data-seed", type=_nonnegative_int, default=0, metavar="S", help="seed of the data"
    )
    demo.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the timing of the NumPy reference (and the speedup)",
    )
    demo.set_defaults(handler=_demo)

    train = sub.add_parser(
        "train",
        help="train a classifier on a CSV file and save it",
        description="Train a TwoLayerClassifier on DATA.csv (a header line, numeric feature "
        "columns, one target column of class labels) and save it as an .npz model file.",
    )
    train.add_argument("data", metavar="DATA.csv", help="training data with a header line")
    train.add_argument(
        "--target", required=True, metavar="COLUMN", help="name of the column holding the labels"
    )
    train.add_argument(
        "-o", "--output", required=True, metavar="MODEL.npz", help="where to save the model"
    )
    train.add_argument(
        "--hidden", type=_positive_int, default=5, metavar="H", help="hidden units (default: 5)"
    )
    train.add_argument(
        "--lr", type=_positive_float, default=0.3, metavar="RATE", help="learning rate (0.3)"
    )
    train.add_argument(
        "--iterations", type=_nonnegative_int, default=5000, metavar="N", help="default: 5000"
    )
    columns = train.add_mutually_exclusive_group()
    columns.add_argument(
        "--features",
        action="append",
        metavar="A,B,...",
        help="the feature columns, comma-separated (default: every column but the target)",
    )
    columns.add_argument(
        "--drop",
        action="append",
        metavar="A,B,...",
        help="columns to leave out (comma-separated), e.g. identifiers or text",
    )
    train.add_argument(
        "--no-scale",
        action="store_true",
        help="train on the raw features; by default each is standardised (mean 0, std 1) "
        "and the model file keeps the mean and scale, which predict applies",
    )
    train.add_argument("--backend", default="auto", choices=backends, help="default: auto")
    train.add_argument(
        "--seed", type=_nonnegative_int, default=3, metavar="S", help="initial weights (3)"
    )
    train.add_argument("-v", "--verbose", action="store_true", help="show progress")
    train.set_defaults(handler=_train)

    predict = sub.add_parser(
        "predict",
        help="predict with a saved model",
        description="Predict the labels (and class probabilities) of the rows of DATA.csv "
        "with a model saved by 'twolayer train' or twolayer.save. The feature columns are "
        "taken by name; other columns (such as the target) are ignored.",
    )
    predict.add_argument("model", metavar="MODEL.npz", help="a model file")
    predict.add_argument("data", metavar="DATA.csv", help="data with a header line")
    predict.add_argument(
        "-o",
        "--output",
        metavar="PREDICTIONS.csv",
        help="write the predictions here (default: print them)",
    )
    predict.set_defaults(handler=_predict)

    _register_install_commands(sub)
    try:  # `twolayer bench` lives in _bench.py, left out of a trimmed install
        from ._bench import register as _register_bench
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}._bench":
            raise  # a broken bench module (or one of ours it imports) must show
    else:
        _register_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ._errors import DivergenceError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]  # no command: the demo, with any options given
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (CLIError, OSError, ValueError, TypeError) as exc:  # OSError: unwritable, disk full
        print(f"twolayer: error: {exc}", file=sys.stderr)
        return 2
    except DivergenceError as exc:
        print(f"twolayer: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("twolayer: interrupted", file=sys.stderr)
        return 130
