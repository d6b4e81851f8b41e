"""``twolayer bench``'s workloads and runners: what is timed.

A runner is a callable that runs one whole fit of a workload (our backends, the
article's code, scikit-learn, PyTorch, JAX; all from the same starting weights)
and returns the last cost. How they are timed is in ``_bench_measure``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

COMPARATORS = ("sklearn", "torch", "jax")
TUTORIAL = "tutorial"  # the article's literal NumPy code, next to the reference in every table
PLOT_HINT = 'pip install "twolayer[plot]"'
INSTALL_HINTS = {
    "sklearn": 'pip install scikit-learn (or "twolayer[bench]")',
    "torch": "pip install torch (a CPU build)",
    "jax": 'pip install jax (or "twolayer[bench]")',
}
SCALE_DEFAULTS = {
    "n_samples": (1_000, 10_000, 100_000, 1_000_000),
    "hidden": (4, 16, 64, 256),
    "features": (2, 20, 200),
}
SCALE_ITERATIONS = 3  # default iterations of each --scale point
SEED = 3  # fit()'s default seed: the tutorial's initial weights
Runner = Callable[[], float]



@dataclasses.dataclass(frozen=True)
class Workload:
    """One training run: data shape, model size, iterations, learning rate."""

    name: str
    n_samples: int
    n_features: int
    hidden: int
    n_outputs: int
    iterations: int
    learning_rate: float

    def work(self, itemsize: int) -> dict[str, int]:
        """What one iteration must do, whatever the implementation."""
        n, f, h, o = self.n_samples, self.n_features, self.hidden, self.n_outputs
        return {
            "multiply_adds": n * h * (2 * f + 3 * o),
            "tanh": n * h,
            "exp": n * o,
            "log1p": n * o,
            "x_bytes": n * f * itemsize,
        }

    def data(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """X (features, samples) and Y (outputs, samples), deterministic."""
        if self.n_features == 2 and self.n_outputs == 1 and self.name == "tutorial":
            from .datasets import make_moons

            X, Y = make_moons(n_samples=self.n_samples, noise=0.2, seed=0)
        else:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((self.n_features, self.n_samples))
            teacher = rng.standard_normal((self.n_outputs, self.n_features))
            noise = rng.standard_normal((self.n_outputs, self.n_samples))
            Y = (teacher @ X + noise > 0).astype(np.float64)
        return X.astype(dtype), Y.astype(dtype)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.n_samples:,} samples x {self.n_features} features, "
            f"hidden {self.hidden}, {self.n_outputs} output(s), "
            f"{self.iterations} iterations, lr {self.learning_rate:g}"
        )


WORKLOADS = {
    # The tutorial's run: two moons, 500 samples, noise 0.2, lr 0.3, hidden 5.
    "tutorial": Workload("tutorial", 500, 2, 5, 1, 5000, 0.3),
    # The kernels' "large" target: 100,000 x 20, hidden 64; a few iterations suffice.
    "large": Workload("large", 100_000, 20, 64, 1, 10, 0.3),
}



# OpenBLAS's worker threads spin for about 2**28 cycles (0.1 s here) after each
# call before they sleep. With as many threads as cores, a runner timed right
# after a BLAS-using one shared its cores with them: Cython's 2-thread
# prediction read 0.89x its 1-thread speed right after the NumPy forward, 1.84x
# with OPENBLAS_THREAD_TIMEOUT=4 (2-core AVX-512 VM).
_SETTLE_S = 0.25


def settle(threads: int) -> None:
    """Before a timed multi-threaded run: let other pools' spinning threads park."""
    if threads > 1:
        time.sleep(_SETTLE_S)


@contextlib.contextmanager
def limit_blas_threads(threads: int) -> Iterator[str | None]:
    """Limit NumPy's (and scikit-learn's) BLAS pool; yields a note when it cannot."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "threadpoolctl is not installed: NumPy's BLAS threads are not limited"
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield None



def _initial_params(wl: Workload) -> dict[str, np.ndarray]:
    from ._params import Layout, initial_parameters

    layout = Layout(wl.n_features, wl.hidden, wl.n_outputs)
    return layout.unpack(initial_parameters(layout, np.dtype(np.float64), SEED))


def _twolayer_runner(
    backend: str, X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int
) -> Runner:
    from ._api import fit

    def run() -> float:
        _, costs = fit(
            X,
            Y,
            wl.learning_rate,
            wl.hidden,
            wl.iterations,
            backend=backend,
            dtype=X.dtype,
            n_threads=threads,
            seed=SEED,
        )
        return float(costs[-1])

    return run


def _sklearn_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    init = _initial_params(wl)
    start = [
        (init["W1"].T.copy(), init["b1"].ravel().copy()),
        (init["W2"].T.copy(), init["b2"].ravel().copy()),
    ]

    class SameStartMLP(MLPClassifier):  # type: ignore[misc]  # scikit-learn: no type information
        """MLPClassifier starting from our initial weights instead of Glorot's."""

        def _init_coef(self, fan_in: int, fan_out: int, dtype: Any) -> Any:
            coef, intercept = start[len(self.coefs_)]
            return coef.astype(dtype), intercept.astype(dtype)

    Xs = np.ascontiguousarray(X.T)  # scikit-learn's layout: (samples, features)
    ys = Y.ravel() if wl.n_outputs == 1 else np.ascontiguousarray(Y.T)

    def run() -> float:
        clf = SameStartMLP(
            hidden_layer_sizes=(wl.hidden,),
            activation="tanh",
            solver="sgd",
            alpha=0.0,
            batch_size=wl.n_samples,
            learning_rate="constant",
            learning_rate_init=wl.learning_rate,
            max_iter=wl.iterations,
            shuffle=False,
            momentum=0.0,
            nesterovs_momentum=False,
            early_stopping=False,
            tol=0.0,  # with n_iter_no_change > max_iter: never stops early
            n_iter_no_change=wl.iterations + 1,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xs, ys)
        # loss_curve_[j] is the full-batch loss before update j, like our costs[j].
        return float(clf.loss_curve_[-1])

    return run


def _torch_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    import torch

    torch.set_num_threads(threads)
    init = _initial_params(wl)
    tdtype = torch.float32 if X.dtype == np.float32 else torch.float64
    Xt = torch.from_numpy(np.ascontiguousarray(X.T))  # (samples, features)
    Yt = torch.from_numpy(np.ascontiguousarray(Y.T))

    def run() -> float:
        model = torch.nn.Sequential(
            torch.nn.Linear(wl.n_features, wl.hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(wl.hidden, wl.n_outputs),
        ).to(tdtype)
        with torch.no_grad():
            for layer, w, b in ((model[0], "W1", "b1"), (model[2], "W2", "b2")):
                layer.weight.copy_(torch.from_numpy(init[w]))
                layer.bias.copy_(torch.from_numpy(init[b].ravel()))
        optimizer = torch.optim.SGD(model.parameters(), lr=wl.learning_rate, momentum=0.0)
        # Our cost sums the outputs' mean losses: "mean" over all elements times n_outputs.
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="mean")
        loss = torch.zeros(())
        for _ in range(wl.iterations):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt), Yt) * wl.n_outputs
            loss.backward()
            optimizer.step()
        return float(loss.item())

    return run


def _tutorial_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """The tutorial's code as the article wrote it (its own seed-3 start: ours)."""
    from . import _tutorial

    def run() -> float:
        _, costs = _tutorial.fit(X, Y, wl.learning_rate, wl.hidden, wl.iterations)
        return float(costs[-1])

    return run


def one_core_xla_flags(flags: str) -> str:
    """``flags`` (XLA_FLAGS: --isa's limit, the user's own) with XLA kept to one core,
    unless they already say how many threads Eigen may use."""
    if "xla_cpu_multi_thread_eigen" in flags:
        return flags
    return f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()


def _jax_runner(X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """The same fit as a JAX user would write it: the stable cost, jax.value_and_grad,
    the whole loop in one jax.jit'ed lax.fori_loop (XLA fuses the elementwise work)."""
    if threads == 1 and "jax" not in sys.modules:  # one core, as ours (read at import)
        os.environ["XLA_FLAGS"] = one_core_xla_flags(os.environ.get("XLA_FLAGS", ""))
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 as asked, not silently float32
    init = _initial_params(wl)
    dtype = jnp.float32 if X.dtype == np.float32 else jnp.float64
    start = tuple(
        jnp.asarray(init[k], dtype).reshape(-1, 1) if k[0] == "b" else jnp.asarray(init[k], dtype)
        for k in ("W1", "b1", "W2", "b2")
    )
    Xj, Yj = jnp.asarray(X, dtype), jnp.asarray(Y, dtype)
    m, lr = X.shape[1], wl.learning_rate

    def cost(params: tuple[Any, ...]) -> Any:
        W1, b1, W2, b2 = params
        Z2 = W2 @ jnp.tanh(W1 @ Xj + b1) + b2
        return jnp.sum(jnp.maximum(Z2, 0) - Yj * Z2 + jnp.log1p(jnp.exp(-jnp.abs(Z2)))) / m

    value_and_grad = jax.value_and_grad(cost)

    def step(_: int, state: tuple[Any, Any]) -> tuple[Any, Any]:
        params, _ = state
        value, grads = value_and_grad(params)  # cost before this update, like our costs[j]
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), value

    train = jax.jit(lambda p: jax.lax.fori_loop(0, wl.iterations, step, (p, jnp.zeros((), dtype))))

    def run() -> float:
        return float(train(start)[1])  # float() waits for the result

    return run


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
        return False


def missing_reason(name: str) -> str | None:
    """Why runner ``name`` cannot run here, or None when it can."""
    from ._backends import BACKENDS, available_backends

    if name in BACKENDS:
        if name in available_backends():
            return None
        return f"backend {name!r} is not available in this installation"
    if name in COMPARATORS:
        if not has_module(name):
            return f"not installed: {INSTALL_HINTS[name]}"
        return None
    if name == TUTORIAL:
        return None
    return f"unknown runner {name!r}"


def make_runner(name: str, X: np.ndarray, Y: np.ndarray, wl: Workload, threads: int) -> Runner:
    """A callable running the whole fit of ``wl`` with runner ``name``; returns the last cost."""
    if name == "sklearn":
        return _sklearn_runner(X, Y, wl, threads)
    if name == "torch":
        return _torch_runner(X, Y, wl, threads)
    if name == "jax":
        return _jax_runner(X, Y, wl, threads)
    if name == TUTORIAL:
        return _tutorial_runner(X, Y, wl, threads)
    return _twolayer_runner(name, X, Y, wl, threads)
