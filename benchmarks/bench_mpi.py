"""Per-iteration overhead of fit(comm=...) on 2 ranks against one process, same data.

    python benchmarks/bench_mpi.py [--samples 500,50000] [--iterations 1000] [--repeats 5]

Not a pytest-benchmark file: it launches ``mpirun -n 2`` on itself. Inside that
one job, for each data size and each repeat, it times in turn (best of
``--repeats``, microseconds per iteration):

* ``single, 1 thread`` / ``single, 2 threads``: ``fit`` without comm on all
  samples, on rank 0 while rank 1 sleeps (polling a non-blocking barrier);
* ``comm, 1 rank``: ``fit(comm=COMM_SELF)`` on rank 0, all samples (the Python
  loop, gradient_sums and a one-rank Allreduce: the cost of the loop itself);
* ``comm, 2 ranks``: ``fit(comm=COMM_WORLD)`` with half the samples on each
  rank, 1 thread each (the slower rank's time: every iteration synchronises);
* ``Allreduce only``: the packed buffer's in-place Allreduce on 2 ranks, alone.

Interleaving the variants makes them see the same machine load. The overhead
of 2 ranks is ``comm, 2 ranks`` minus ``single, 2 threads`` (the same two cores)
and, against perfect scaling, minus half of ``single, 1 thread``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN, LR = 5, 0.3
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_pml": "ob1",
    "OMPI_MCA_btl": "self,sm",  # shared memory only
    "OMPI_MCA_mpi_yield_when_idle": "1",  # waiting ranks yield the (shared) cores
    "PMIX_MCA_ptl_tcp_if_include": "lo",
    "OMP_NUM_THREADS": "1",
}


def _data(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    from twolayer.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=0.2, seed=0)


def _timed(comm: Any, run: Callable[[], object], ranks: tuple[int, ...]) -> float:
    """Seconds of ``run`` on ``ranks`` (the slowest); the other ranks sleep meanwhile."""
    from mpi4py import MPI

    comm.Barrier()
    elapsed = 0.0
    if comm.Get_rank() in ranks:
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.0005)
    return comm.allreduce(elapsed, op=MPI.MAX)


def _worker(args: argparse.Namespace) -> None:
    from mpi4py import MPI

    import twolayer
    from twolayer._params import Layout

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    n, backend = args.iterations, args.backend
    results = {}
    for n_samples in (int(s) for s in args.samples.split(",")):
        X, Y = _data(n_samples)
        cols = np.array_split(np.arange(X.shape[1]), size)[rank]
        Xs, Ys = np.ascontiguousarray(X[:, cols]), np.ascontiguousarray(Y[:, cols])
        buf = np.zeros(Layout(X.shape[0], HIDDEN, Y.shape[0]).size + 2)  # as in _mpi

        def allreduce(buf: np.ndarray = buf) -> None:
            for _ in range(n):
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

        runs: dict[str, tuple[Callable[[], object], tuple[int, ...]]] = {
            "single, 1 thread": (
                lambda X=X, Y=Y: twolayer.fit(X, Y, LR, HIDDEN, n, backend=backend, n_threads=1),
                (0,),
            ),
            "single, 2 threads": (
                lambda X=X, Y=Y: twolayer.fit(X, Y, LR, HIDDEN, n, backend=backend, n_threads=2),
                (0,),
            ),
            "comm, 1 rank": (
                lambda X=X, Y=Y: twolayer.fit(
                    X, Y, LR, HIDDEN, n, backend=backend, n_threads=1, comm=MPI.COMM_SELF
                ),
                (0,),
            ),
            "comm, 2 ranks": (
                lambda Xs=Xs, Ys=Ys: twolayer.fit(
                    Xs, Ys, LR, HIDDEN, n, backend=backend, n_threads=1, comm=comm
                ),
                tuple(range(size)),
            ),
            "Allreduce only, 2 ranks": (allreduce, tuple(range(size))),
        }
        best = dict.fromkeys(runs, np.inf)
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, (run, ranks) in runs.items():
                seconds = _timed(comm, run, ranks)
                if repeat:
                    best[name] = min(best[name], seconds / n)
        results[n_samples] = best
    if rank == 0:
        print("RESULT " + json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="500,50000")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    from twolayer._backends import resolve_backend

    backend = resolve_backend(args.backend)
    mpirun = Path(sys.executable).parent / "mpirun"
    cmd = [str(mpirun) if mpirun.exists() else "mpirun", "-n", "2", "--oversubscribe"]
    cmd += ["--bind-to", "none", sys.executable, "-m", "mpi4py", __file__, "--worker"]
    cmd += ["--samples", args.samples, "--iterations", str(args.iterations)]
    cmd += ["--repeats", str(args.repeats), "--backend", backend]
    out = subprocess.run(
        cmd, env={**os.environ, **MPI_ENV}, capture_output=True, text=True, timeout=3600
    )
    if out.returncode != 0 or "RESULT " not in out.stdout:
        sys.exit(f"mpirun failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    results = json.loads(out.stdout.split("RESULT ", 1)[1])
    print(
        f"backend {backend}, hidden {HIDDEN}, {args.iterations} iterations, best of "
        f"{args.repeats}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        "microseconds per iteration"
    )
    for n_samples, rows in results.items():
        print(f"\n{n_samples} samples")
        for name, seconds in rows.items():
            print(f"  {name:45s} {seconds * 1e6:10.1f}")
        two = rows["comm, 2 ranks"]
        print(f"  {'overhead: comm 2 ranks - single 2 threads':45s} "
              f"{(two - rows['single, 2 threads']) * 1e6:10.1f}")
        print(f"  {'overhead: comm 2 ranks - single 1 thread / 2':45s} "
              f"{(two - rows['single, 1 thread'] / 2) * 1e6:10.1f}")
        print(f"  {'overhead: comm 1 rank - single 1 thread':45s} "
              f"{(rows['comm, 1 rank'] - rows['single, 1 thread']) * 1e6:10.1f}")


if __name__ == "__main__":
    main()
