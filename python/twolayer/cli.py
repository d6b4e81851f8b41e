"""Command line: ``twolayer demo`` (also ``python -m twolayer``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    import twolayer
    from twolayer.datasets import make_moons

    X, Y = make_moons(n_samples=500, noise=0.2, seed=args.data_seed)
    backend = args.backend
    started = time.perf_counter()
    params, costs = twolayer.fit(X, Y, 0.3, 5, args.iterations, backend=backend)
    elapsed = time.perf_counter() - started
    accuracy = float(np.mean(twolayer.predict(params, X) == Y))
    name = backend if backend != "auto" else twolayer._backends.resolve_backend("auto")
    print("tutorial run: two moons, 500 samples, noise 0.2, lr 0.3, hidden 5")
    print(f"backend:    {name}")
    print(f"iterations: {args.iterations}")
    if costs.size:
        print(f"first cost: {costs[0]:.10f}")
        print(f"last cost:  {costs[-1]:.10f}")
    print(f"accuracy:   {accuracy:.4f}")
    print(f"time:       {elapsed:.3f} s (including first-use loading)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twolayer", description="Train two-layer tanh/sigmoid networks fast."
    )
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the tutorial's run on built-in two-moons data")
    demo.add_argument("--backend", default="auto", help="auto, numpy, cython or numba")
    demo.add_argument("--iterations", type=int, default=5000, help="default: 5000")
    demo.add_argument("--data-seed", type=int, default=0, help="seed of the two-moons data")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo", *(argv or [])])
    try:
        return args.handler(args)
    except (ValueError, TypeError) as exc:
        print(f"twolayer: error: {exc}", file=sys.stderr)
        return 2
