"""Smoke test of an installed twolayer (the sdist builds, the hidden-runtime checks).

    python .ci/smoke.py --compiler Clang --openmp yes
    python .ci/smoke.py --openmp no
    python .ci/smoke.py --vendored-openmp     # the repaired wheel, system libgomp hidden
    python .ci/smoke.py --cython-unloadable   # its OpenMP runtime hidden: auto falls back

Fits the tutorial's network on the Cython kernels with 1 and 2 threads (bitwise
equal, and within 1e-10 of the NumPy reference), and checks what show_config says.
"""

import argparse
import sys

import numpy as np

import twolayer
from twolayer import _backends
from twolayer._show_config import config
from twolayer.datasets import make_moons

parser = argparse.ArgumentParser()
parser.add_argument("--compiler", help="expected compiler id (GNU, Clang)")
parser.add_argument("--openmp", choices=["yes", "no"])
parser.add_argument("--vendored-openmp", action="store_true")
parser.add_argument("--cython-unloadable", action="store_true")
parser.add_argument("--hidden", metavar="LIBRARY", help="a library that must not load here")
args = parser.parse_args()

if args.hidden:
    import ctypes

    try:
        ctypes.CDLL(args.hidden)
    except OSError as error:
        print(f"{args.hidden} is hidden: {error}")
    else:
        sys.exit(f"{args.hidden} still loads: hiding it did not work")

cfg = config()
print(f"twolayer {twolayer.__version__} from {twolayer.__file__}; build: {cfg['build']}")
X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
reference = twolayer.fit(X, Y, 0.3, 5, 300, backend="numpy")[1]


def check(costs: np.ndarray, what: str) -> None:
    error = float(np.max(np.abs(costs - reference) / reference))
    assert error < 1e-10, f"{what}: relative error {error:.2e} from the reference"


if args.cython_unloadable:
    assert "cython" not in twolayer.available_backends(), twolayer.available_backends()
    reason = cfg["backends"]["cython"]["reason"]
    print(f"cython: {reason}")
    assert "does not load" in reason, reason
    auto = _backends.resolve_backend("auto")
    assert auto == "numba", auto
    check(twolayer.fit(X, Y, 0.3, 5, 300)[1], f"auto ({auto})")
    print(f"auto falls back to {auto}")
    sys.exit(0)

cython = cfg["backends"]["cython"]
assert cython["loads"], cython
if args.compiler:
    assert cfg["build"]["compiler"].startswith(args.compiler + " "), cfg["build"]["compiler"]
if args.openmp:
    assert cfg["build"]["openmp"] is (args.openmp == "yes"), cfg["build"]
one, two = (twolayer.fit(X, Y, 0.3, 5, 300, backend="cython", n_threads=t)[1] for t in (1, 2))
assert np.array_equal(one, two), "1 and 2 threads differ"
check(two, "cython")
print(f"cython ({cython['loaded']}): {cython['threads']}; 1 and 2 threads agree bitwise")
if args.vendored_openmp:
    runtimes = cython["openmp_runtime"]
    assert runtimes and all("twolayer.libs" in path for path in runtimes), runtimes
    print(f"OpenMP runtime: {runtimes}")
