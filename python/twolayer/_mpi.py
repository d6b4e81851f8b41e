"""Exact full-batch gradient descent over MPI (``fit(..., comm=comm)``).

Each rank holds its own samples (columns). Per iteration every rank computes
the gradient *sums* and the cost sum over its local samples into one packed
buffer ``[grad (theta's layout)..., cost_sum, n_failed]`` and
the ranks make ONE in-place ``Allreduce(SUM)`` of that buffer (buffer API, no
pickling). Every rank then applies the same update ``theta - lr * ((1/m) * g)``
with m the global sample count, so all ranks hold identical parameters and the
result equals the single-process fit on the concatenated data up to the
rounding of the sums' order.

Protocol, so that no rank is ever left waiting:

* Agreement (once, before training): each rank validates its local data and
  arguments and the ranks ``allgather`` a small record (the local error if any,
  n_features, n_outputs, resolved dtype, learning_rate, hidden_size,
  number_of_iterations, seed, a digest of the initial parameters, local sample
  count). A local error on any rank, or any disagreement, raises the same
  exception with the same message on every rank. The backend and n_threads
  may differ between ranks (they do not change the reduced sums beyond
  rounding, and every rank uses the same sums).
* Empty shards: a rank may hold zero samples (X of shape (n_features, 0)); it
  contributes zero sums. Zero samples on *every* rank is refused.
* A rank whose local step raises sets the error slot of the buffer instead of
  leaving the collective; after the Allreduce every rank sees the flag, the
  ranks ``allgather`` the messages and every rank raises ``RuntimeError``
  naming the failing rank(s) and their error, at the same iteration.
* Divergence is judged on the reduced (identical) values, so
  ``DivergenceError`` is raised on every rank at the same iteration.
* Anything else escaping the loop on one rank (KeyboardInterrupt, an MPI
  error inside the Allreduce) cannot be agreed on: that rank writes a message
  to stderr and calls ``comm.Abort(1)``, which ends the whole job (only when
  the communicator has more than one rank).

mpi4py is imported here only, and this module only when ``comm`` is given.
"""

from __future__ import annotations

import hashlib
import math
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from . import _validation as v
from ._errors import DivergenceError
from ._labels import class_kind
from ._params import Layout
from ._setup import _prepare, _start

_Local = TypeVar("_Local")

# Fields every rank must agree on, in the order they are reported.
_AGREED = (
    "n_features",
    "n_outputs",
    "dtype",
    "learning_rate",
    "hidden_size",
    "number_of_iterations",
    "seed",
    "initial_parameters",
)
# Extra slots after the gradient in the reduced buffer.
_COST, _N_FAILED = 0, 1
_EXTRA = 2


def check_comm(comm: Any) -> Any:
    """mpi4py's ``MPI`` module, once ``comm`` is checked to be a usable intra-communicator."""
    try:
        from mpi4py import MPI
    except ImportError as exc:  # pragma: no cover - exercised only without mpi4py
        raise ImportError(
            "comm= needs mpi4py and an MPI library: pip install 'twolayer[mpi]'"
        ) from exc
    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"comm must be an mpi4py communicator, got {type(comm).__name__}")
    if comm == MPI.COMM_NULL:
        raise ValueError("comm must not be MPI.COMM_NULL")
    if comm.Is_inter():
        raise ValueError("comm must be an intra-communicator (e.g. MPI.COMM_WORLD)")
    return MPI


def _local_setup(
    X: Any,
    Y: Any,
    learning_rate: Any,
    hidden_size: Any,
    number_of_iterations: Any,
    backend: Any,
    dtype: Any,
    n_threads: Any,
    seed: Any,
    unsupported: Sequence[str],
    init_params: dict[str, np.ndarray] | None,
) -> tuple[dict[str, Any], Any]:
    """Validate this rank's arguments; return (record to share, local state)."""
    if unsupported:
        raise ValueError(f"{', '.join(unsupported)} not supported with comm")
    X, Y = _prepare(X, Y, dtype, allow_no_samples=True)  # an empty shard is a valid rank
    record = {
        "n_features": X.shape[0],
        "n_outputs": Y.shape[0],
        "dtype": X.dtype.name,
        "learning_rate": v.check_learning_rate(learning_rate),
        "hidden_size": v.check_positive_int(hidden_size, "hidden_size"),
        "number_of_iterations": v.check_positive_int(
            number_of_iterations, "number_of_iterations", minimum=0
        ),
        "seed": v.check_seed(seed),
        "n_samples": X.shape[1],
        "error": None,
    }
    v.check_model_size(record["hidden_size"], X.shape[0], Y.shape[0])
    n_threads = v.check_n_threads(n_threads)
    # As fit does; a rank that cannot hold its shard fails on every rank (the
    # caller turns this rank's exception into the shared record's error).
    kernels, _, theta = _start(
        X, Y, record["hidden_size"], backend, n_threads, record["seed"], init_params
    )
    # Ranks compare a digest, not the parameters: equal digests mean equal bits.
    record["initial_parameters"] = hashlib.sha256(theta.tobytes()).hexdigest()[:16]
    return record, (X, Y, kernels, n_threads, theta)


def describe_ranks(values: list[Any]) -> str:
    """Each rank's value for a message (the first 8 ranks)."""
    shown = ", ".join(f"rank {r}: {val!r}" for r, val in enumerate(values[:8]))
    return shown + (f", ... ({len(values)} ranks)" if len(values) > 8 else "")


def local_seed(random_state: Any, rank: int) -> tuple[int | None, bool]:
    """(this rank's seed, whether it is the caller's int) for an estimator over MPI.

    An int is every rank's own (``fit_distributed`` checks that they agree); a random
    source (or None: fresh entropy) is drawn on rank 0 only, and the other ranks take
    rank 0's seed from the exchanged records.
    """
    seed_is_int = random_state is not None and not isinstance(
        random_state, (np.random.RandomState, np.random.Generator)
    )
    seed = v.seed_from_random_state(random_state) if seed_is_int or rank == 0 else None
    if seed is None and rank == 0:  # None: fresh entropy, but one seed for every rank
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    return seed, seed_is_int


def exchange(
    comm: Any, local_setup: Callable[[], tuple[dict[str, Any], _Local]]
) -> tuple[list[dict[str, Any]], _Local | None]:
    """Run this rank's checks and ``allgather`` every rank's record.

    An exception in ``local_setup`` becomes this rank's record's ``error``
    (raised on every rank by ``raise_rank_errors``) instead of leaving the
    other ranks waiting in the collective. Returns (records, local state or None).
    """
    local: _Local | None = None
    try:
        record, local = local_setup()
    except Exception as exc:  # shared with every rank, then raised on every rank
        record = {"error": (type(exc).__name__, str(exc))}
    records: list[dict[str, Any]] = comm.allgather(record)
    return records, local


def raise_rank_errors(records: list[dict[str, Any]], where: str) -> None:
    """Raise the same exception on every rank when any rank's local checks failed."""
    size = len(records)
    errors = [(r, rec["error"]) for r, rec in enumerate(records) if rec["error"] is not None]
    if errors:
        kind = errors[0][1][0]
        cls: type[Exception] = TypeError if kind == "TypeError" else ValueError
        detail = "; ".join(f"rank {r} of {size}: {k}: {msg}" for r, (k, msg) in errors)
        raise cls(f"{where}: invalid input on {len(errors)} rank(s): {detail}")


def total_samples(records: list[dict[str, Any]], where: str) -> int:
    """The samples over all ranks; zero on every rank is refused (on every rank)."""
    m = sum(rec["n_samples"] for rec in records)
    if m == 0:
        raise ValueError(f"{where}: X has zero samples on every one of the {len(records)} ranks")
    return int(m)


def _agree(records: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The agreed record and the total sample count; the same error on every rank if none."""
    where = "fit(comm=...)"
    raise_rank_errors(records, where)
    for key in _AGREED:
        values = [rec[key] for rec in records]
        if any(val != values[0] for val in values[1:]):
            hint = " (pass dtype= explicitly)" if key == "dtype" else ""
            raise ValueError(
                f"{where}: the ranks must agree on {key}{hint}, got {describe_ranks(values)}"
            )
    return records[0], total_samples(records, where)


def agree_targets(records: list[dict[str, Any]], name: str) -> tuple[str, np.ndarray]:
    """(kind, classes_) of a fit over MPI, decided alike on every rank from every rank's record.

    Raises the same exception with the same message on every rank when a rank
    failed its local checks or the ranks' targets do not fit together.
    """
    where = f"{name}.fit(comm=...)"
    raise_rank_errors(records, where)
    total_samples(records, where)
    resumes = [rec["resume"] for rec in records]
    if any(r != resumes[0] for r in resumes):
        raise ValueError(
            f"{where}: either every rank or none must continue a fitted network "
            f"(warm_start or partial_fit); continuing: {describe_ranks(resumes)}"
        )
    kinds = [rec["kind"] for rec in records]
    if resumes[0]:
        previous = [rec["previous"] for rec in records]
        kind, classes_ = previous[0]
        for other_kind, other_classes in previous[1:]:
            if other_kind != kind or not np.array_equal(other_classes, classes_):
                raise ValueError(
                    f"{where}: the ranks continue networks fitted on different classes: "
                    f"{describe_ranks([c.tolist() for _, c in previous])}"
                )
    else:
        present = sorted({k for k in kinds if k is not None})
        if len(present) > 1:
            raise ValueError(
                f"{where}: y must be 1-D class labels on every rank or a 2-D indicator "
                f"matrix on every rank, got {describe_ranks(kinds)}"
            )
        kind = present[0] if present else "labels"
        if kind == "multilabel":
            columns = [rec["n_columns"] for rec in records if rec["kind"] == "multilabel"]
            if any(c != columns[0] for c in columns):
                raise ValueError(
                    f"{where}: the ranks' indicator matrices y must have the same number "
                    f"of columns, got {describe_ranks([rec['n_columns'] for rec in records])}"
                )
            return kind, np.arange(columns[0])
        given = [rec["given"] for rec in records]
        if any(g is not None for g in given):
            if any(g is None or not np.array_equal(g, given[0]) for g in given):
                raise ValueError(
                    f"{where}: partial_fit's classes must be the same on every rank, got "
                    f"{describe_ranks([None if g is None else g.tolist() for g in given])}"
                )
            classes_ = given[0]
            kind = "binary" if classes_.size == 2 else "multiclass"
        else:
            kind, classes_ = class_kind(
                [rec["labels"] for rec in records if rec["labels"] is not None],
                mixed=f"{where}: the ranks' labels mix types that cannot be sorted together "
                "(e.g. strings and numbers)",
                needs=f"{name} needs samples of at least 2 classes in y over all ranks",
            )
    # Every rank's targets must fit the classes: checked here, from every rank's
    # record, so that encoding them afterwards cannot fail on one rank alone.
    for r, rec in enumerate(records):
        if rec["kind"] is None:
            continue
        if kind == "multilabel":
            if rec["kind"] != "multilabel" or rec["n_columns"] != classes_.size:
                raise ValueError(
                    f"{where}: y on rank {r} must be a 0/1 indicator matrix with "
                    f"{classes_.size} columns, as in the first fit"
                )
            continue
        if rec["kind"] == "multilabel":
            raise ValueError(
                f"{where}: y on rank {r} is a 2-D indicator matrix but the network has "
                "1-D class labels"
            )
        try:
            unknown = np.setdiff1d(rec["labels"], classes_)
        except TypeError:
            unknown = rec["labels"]
        if unknown.size:
            raise ValueError(
                f"{where}: y on rank {r} contains labels {unknown.tolist()} not in classes "
                f"{classes_.tolist()}"
            )
    return kind, classes_


def fit_distributed(
    X: Any,
    Y: Any,
    learning_rate: Any,
    hidden_size: Any,
    number_of_iterations: Any,
    *,
    backend: Any,
    dtype: Any,
    n_threads: Any,
    seed: Any,
    comm: Any,
    unsupported: Sequence[str] = (),
    init_params: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``fit`` over the ranks of ``comm``; see the module docstring for the protocol.

    ``init_params`` (the same on every rank) replaces the seeded initialisation,
    for warm starts.
    """
    MPI = check_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()

    records, local = exchange(
        comm,
        lambda: _local_setup(
            X,
            Y,
            learning_rate,
            hidden_size,
            number_of_iterations,
            backend,
            dtype,
            n_threads,
            seed,
            unsupported,
            init_params,
        ),
    )
    agreed, m = _agree(records)
    assert local is not None  # a local error raised on every rank above
    X, Y, kernels, n_threads, theta = local

    layout = Layout(agreed["n_features"], agreed["hidden_size"], agreed["n_outputs"])
    dt = np.dtype(agreed["dtype"])
    n_iter = agreed["number_of_iterations"]
    costs = np.empty(n_iter, dtype=dt)
    buf = np.zeros(layout.size + _EXTRA, dtype=dt)
    grad, extra = buf[: layout.size], buf[layout.size :]
    lr = dt.type(agreed["learning_rate"])
    inv_m = 1 / m
    has_samples = X.shape[1] > 0

    outcome: tuple[str, int] | None = None
    local_error: BaseException | None = None
    step, candidate = np.empty_like(theta), np.empty_like(theta)
    j = 0
    try:
        # Overflow in a diverging step is detected below, as in the single-process kernels.
        with np.errstate(all="ignore"):
            for j in range(n_iter):
                try:
                    if has_samples:
                        extra[_COST] = kernels.gradient_sums(X, Y, theta, grad, n_threads)
                    else:
                        buf[:] = 0
                    extra[_N_FAILED] = 0
                except Exception as exc:
                    local_error = exc
                    buf[:] = 0
                    extra[_N_FAILED] = 1
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
                if extra[_N_FAILED] != 0:
                    outcome = ("failed", j)
                    break
                costs[j] = extra[_COST] / m
                # The tutorial's update, P - lr * ((1 / m) * dP_sum), into a candidate
                # (the same roundings as ``theta - lr * (inv_m * grad)``, without temporaries).
                np.multiply(grad, inv_m, out=step)
                np.multiply(step, lr, out=step)
                np.subtract(theta, step, out=candidate)
                if not (math.isfinite(costs[j]) and np.isfinite(candidate).all()):
                    outcome = ("diverged", j)
                    break
                theta, candidate = candidate, theta
    except BaseException as exc:
        if size == 1:
            raise
        _abort(comm, rank, size, j, exc)

    if outcome is None:
        return layout.unpack(theta), costs
    what, j = outcome
    if what == "diverged":
        raise DivergenceError(j, layout.unpack(theta), costs[: j + 1].copy())
    # Every rank saw the flag, so every rank takes part in this gather.
    mine = None if local_error is None else f"{type(local_error).__name__}: {local_error}"
    messages: list[str | None] = comm.allgather(mine)
    detail = "; ".join(f"rank {r}: {msg}" for r, msg in enumerate(messages) if msg is not None)
    raise RuntimeError(
        f"fit(comm=...): the local gradient failed on {int(extra[_N_FAILED])} of {size} "
        f"rank(s) at iteration {j}, so every rank stopped: {detail}"
    ) from local_error


def _abort(comm: Any, rank: int, size: int, iteration: int, exc: BaseException) -> None:
    """End the whole job: the other ranks may be blocked in the Allreduce."""
    message = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    sys.stderr.write(
        f"twolayer.fit(comm=...): rank {rank} of {size} failed at iteration {iteration} "
        f"outside the collective error protocol; aborting every rank (MPI_Abort).\n{message}"
    )
    sys.stderr.flush()
    comm.Abort(1)
