"""Train one network on samples spread over MPI ranks.

    pip install ".[mpi]"
    mpirun -n 4 python -m mpi4py examples/train_mpi.py                 # built-in data
    mpirun -n 4 python -m mpi4py examples/train_mpi.py --shards DIR    # DIR/shard{rank}.npz

Each rank holds only its own samples: with ``--shards`` it loads
``DIR/shard{rank}.npz`` (arrays ``X`` of shape (n_features, n_local) and ``Y``
of shape (n_outputs, n_local)); without it, every rank makes the same two-moons
data and keeps its own slice of the columns (uneven when the count does not
divide). Every rank ends with the same parameters: those of ``twolayer.fit`` on
all samples at once. ``--write-shards DIR`` splits the built-in data into
such files (run it once, without mpirun) to try ``--shards``.

``python -m mpi4py`` makes an uncaught exception on one rank abort the whole
job instead of leaving the other ranks waiting. As root, Open MPI also needs
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; on a machine with
fewer cores than ranks add ``--oversubscribe``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import twolayer
from twolayer.datasets import make_moons


def built_in_shard(rank: int, size: int, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    X, Y = make_moons(n_samples=n_samples, noise=0.2, seed=0)
    columns = np.array_split(np.arange(X.shape[1]), size)[rank]
    return X[:, columns], Y[:, columns]


def write_shards(directory: Path, size: int, n_samples: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for rank in range(size):
        X, Y = built_in_shard(rank, size, n_samples)
        np.savez(directory / f"shard{rank}.npz", X=X, Y=Y)
        print(f"wrote {directory / f'shard{rank}.npz'}: {X.shape[1]} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, help="load DIR/shard{rank}.npz on each rank")
    parser.add_argument("--write-shards", type=Path, metavar="DIR", help="write shards and exit")
    parser.add_argument("--ranks", type=int, default=4, help="shards to write (--write-shards)")
    parser.add_argument("--samples", type=int, default=500, help="built-in data size")
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--learning-rate", type=float, default=0.3)
    parser.add_argument("--hidden", type=int, default=5)
    parser.add_argument("--save", type=Path, help="rank 0 saves the parameters here (.npz)")
    args = parser.parse_args()
    if args.write_shards:
        write_shards(args.write_shards, args.ranks, args.samples)
        return

    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if args.shards:
        with np.load(args.shards / f"shard{rank}.npz") as shard:
            X, Y = shard["X"], shard["Y"]
    else:
        X, Y = built_in_shard(rank, size, args.samples)

    started = time.perf_counter()
    params, costs = twolayer.fit(
        X, Y, args.learning_rate, args.hidden, args.iterations, comm=comm, n_threads=1
    )
    elapsed = time.perf_counter() - started

    # Accuracy over all samples: each rank counts its own, one small reduction.
    local = np.array([np.sum(twolayer.predict(params, X) == Y), Y.size], dtype=np.int64)
    total = np.empty_like(local)
    comm.Allreduce(local, total, op=MPI.SUM)
    counts = comm.gather(X.shape[1])
    if rank == 0:
        print(f"{size} ranks, samples per rank {counts}, {args.iterations} iterations "
              f"in {elapsed:.2f} s")
        if costs.size:
            print(f"cost {costs[0]:.6f} -> {costs[-1]:.6f}, accuracy {total[0] / total[1]:.3f}")
        if args.save:
            np.savez(args.save, **params)
            print(f"saved parameters to {args.save}")


if __name__ == "__main__":
    main()
