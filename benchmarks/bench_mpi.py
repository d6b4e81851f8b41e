"""Per-iteration overhead of fit(comm=...) on 2 ranks against one process, same data.

    python benchmarks/bench_mpi.py [--samples 500,50000] [--iterations 1000] [--repeats 3]

Not a pytest-benchmark file (it launches mpirun itself). For each data size it
times, per iteration (best of ``--repeats``):

* ``single, 1 thread`` / ``single, 2 threads``: ``fit`` without comm on all samples;
* ``mpi, 1 rank``: ``fit(comm=...)`` on one rank (the Python loop, gradient_sums
  and a one-rank Allreduce, no communication);
* ``mpi, 2 ranks``: ``fit(comm=...)`` with half the samples on each rank, 1 thread each;
* ``Allreduce only``: the packed buffer's Allreduce on 2 ranks, alone.

The overhead of 2 ranks is ``mpi, 2 ranks`` minus ``single, 2 threads`` (the same
two cores). Timings are wall-clock and the machine may be shared: compare rows
of one run.
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


def _best(run: Callable[..., object], repeats: int, *args: Any, **kwargs: Any) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return min(times)


def _worker(n_samples: int, iterations: int, repeats: int, backend: str) -> None:
    from mpi4py import MPI

    import twolayer
    from twolayer._params import Layout

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    X, Y = _data(n_samples)
    cols = np.array_split(np.arange(X.shape[1]), size)[rank]
    X, Y = np.ascontiguousarray(X[:, cols]), np.ascontiguousarray(Y[:, cols])

    def fit() -> None:
        comm.Barrier()
        twolayer.fit(X, Y, LR, HIDDEN, iterations, comm=comm, backend=backend, n_threads=1)

    fit()  # warm-up (backend load, first-touch)
    t_fit = _best(fit, repeats)
    buf = np.zeros(Layout(2, HIDDEN, 1).size + 3)

    def allreduce() -> None:
        comm.Barrier()
        for _ in range(iterations):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    t_allreduce = _best(allreduce, repeats)
    # A rank's time is the job's time (every iteration synchronises): report the slowest.
    t_fit, t_allreduce = comm.allreduce(t_fit, op=MPI.MAX), comm.allreduce(t_allreduce, MPI.MAX)
    if rank == 0:
        result = {"fit": t_fit / iterations, "allreduce": t_allreduce / iterations}
        print("RESULT " + json.dumps(result))


def _launch(ranks: int, args: argparse.Namespace, n_samples: int, backend: str) -> dict:
    mpirun = Path(sys.executable).parent / "mpirun"
    cmd = [str(mpirun) if mpirun.exists() else "mpirun", "-n", str(ranks), "--oversubscribe"]
    cmd += ["--bind-to", "none", sys.executable, "-m", "mpi4py", __file__, "--worker"]
    cmd += ["--samples", str(n_samples), "--iterations", str(args.iterations)]
    cmd += ["--repeats", str(args.repeats), "--backend", backend]
    out = subprocess.run(
        cmd, env={**os.environ, **MPI_ENV}, capture_output=True, text=True, timeout=600, check=True
    ).stdout
    return json.loads(out.split("RESULT ", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="500,50000")
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(int(args.samples), args.iterations, args.repeats, args.backend)
        return

    import twolayer
    from twolayer._backends import resolve_backend

    backend = resolve_backend(args.backend)
    print(f"backend {backend}, hidden {HIDDEN}, {args.iterations} iterations, best of "
          f"{args.repeats}; microseconds per iteration")
    for n_samples in (int(s) for s in args.samples.split(",")):
        X, Y = _data(n_samples)
        rows = {}
        for threads in (1, 2):
            twolayer.fit(X, Y, LR, HIDDEN, 10, backend=backend, n_threads=threads)
            seconds = _best(
                twolayer.fit, args.repeats, X, Y, LR, HIDDEN, args.iterations,
                backend=backend, n_threads=threads,
            )
            rows[f"single, {threads} thread(s)"] = seconds / args.iterations
        one, two = _launch(1, args, n_samples, backend), _launch(2, args, n_samples, backend)
        rows["mpi, 1 rank"] = one["fit"]
        rows["mpi, 2 ranks (1 thread each)"] = two["fit"]
        rows["Allreduce only, 2 ranks"] = two["allreduce"]
        print(f"\n{n_samples} samples")
        for name, seconds in rows.items():
            print(f"  {name:32s} {seconds * 1e6:10.1f}")
        overhead = two["fit"] - rows["single, 2 thread(s)"]
        print(f"  {'overhead of 2 ranks vs single, 2 threads':32s} {overhead * 1e6:10.1f}")


if __name__ == "__main__":
    main()
