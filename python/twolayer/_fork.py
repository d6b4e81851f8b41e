"""Threads in a process created by fork.

GNU OpenMP's thread pool (the Cython kernels' ``prange``) and Numba's "omp"
threading layer do not survive ``fork``: a child that enters a parallel
region waits forever on threads that only exist in the parent, or Numba kills
it ("Terminating: fork() called from a process already using GNU OpenMP").
So a process forked from one where twolayer has started threads runs its
kernels on one thread. Both kernel families skip their parallel region
entirely with one slot, and results are bitwise the same for every thread
count: only speed changes. Processes started with "spawn" or "forkserver"
(or forked before any threaded fit) keep their threads.
"""

from __future__ import annotations

import os

# True once this process, or one it was forked from, may have started a thread
# pool of OpenMP or of Numba's threading layer (inherited by fork with the memory).
_threads_started = False
# True in a process forked after _threads_started: its thread pools are unusable.
_forked_after_threads = False


def _after_fork_in_child() -> None:
    global _forked_after_threads
    if _threads_started:
        _forked_after_threads = True


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def note_threads_started() -> None:
    """Record that a thread pool may exist now (Numba launches its layer even for one thread)."""
    global _threads_started
    _threads_started = True


def threads_unusable() -> bool:
    """True in a process forked after threads were started: run single-threaded."""
    return _forked_after_threads


def effective_n_threads(requested: int) -> int:
    """The number of threads a kernel may use, given the number requested."""
    if _forked_after_threads:
        return 1
    if requested > 1:
        note_threads_started()
    return requested
