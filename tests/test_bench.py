"""``twolayer bench`` (python/twolayer/_bench*.py) on tiny workloads: the table, --json, errors.

No timing is asserted: only that the report is complete, consistent and parses.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tutorial
import twolayer
from twolayer import _bench, _bench_measure, _bench_workloads

TINY = ["--n-samples", "60", "--iterations", "10", "--repeat", "2", "--quick-rates"]


def bench(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m twolayer._bench ARGS`` (or ``code`` run with ARGS in sys.argv)."""
    command = (
        [sys.executable, "-m", "twolayer._bench"] if code is None else [sys.executable, "-c", code]
    )
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="backends-with-memory"),
        # Importing torch twice more (one memory subprocess) would double this test's time.
        pytest.param(
            ["--compare", "sklearn,torch", "--no-memory", "--backends", "numpy"], id="comparators"
        ),
    ],
)
def test_json_report(extra: list[str]) -> None:
    proc = bench(*TINY, "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["version"] == 1
    assert report["settings"]["dtype"] == "float64"
    assert report["settings"]["threads"] == 1
    assert all(report["rates"][k] > 0 for k in report["rates"])
    [point] = report["points"]
    assert point["workload"]["n_samples"] == 60
    backends = (
        [] if "--backends" in extra else [b for b in twolayer.available_backends() if b != "numpy"]
    )
    results = {e["name"]: e for e in point["results"]}
    comparators = ["sklearn", "torch"] if extra else []
    assert list(results) == ["numpy", "tutorial", *backends, *comparators]
    assert results["numpy"]["speedup"] == 1.0
    # The columns below compare every runner with the numpy run, so that run is checked
    # on its own: its last cost is that of a fit outside the bench, and of the article's code.
    wl = _bench_workloads.Workload(**point["workload"])
    X, Y = wl.data(np.dtype(np.float64))
    _, costs = twolayer.fit(X, Y, wl.learning_rate, wl.hidden, wl.iterations, backend="numpy")
    assert results["numpy"]["final_cost"] == float(costs[-1])
    _, tutorial_costs = tutorial.fit(X, Y, wl.learning_rate, wl.hidden, wl.iterations)
    assert results["numpy"]["final_cost"] == pytest.approx(float(tutorial_costs[-1]), rel=1e-12)
    for name, entry in results.items():
        if name in ("sklearn", "torch") and entry["status"] == "missing":
            assert "pip install" in entry["reason"]  # reported, not fatal
            continue
        assert entry["status"] == "ok", entry
        assert len(entry["times_s"]) == 2
        assert entry["time_per_iter_s"] > 0
        assert entry["roofline_fraction"] > 0
        # The same start and iterations everywhere: the same computation, the same last cost.
        assert entry["cost_rel_diff"] < 1e-7, name
        if "--no-memory" in extra:
            assert "memory" not in entry
            continue
        memory = entry["memory"]
        assert "error" not in memory, memory
        assert memory["rss_bytes"] >= 0
        assert memory["traced_bytes"] >= 0
        assert memory["x_bytes"] == 60 * 2 * 8
        assert memory["method"] in ("VmHWM", "ru_maxrss")


def test_table_lists_every_backend_with_ratios() -> None:
    proc = bench(*TINY, "--no-memory")  # every backend: a Numba cache load at most
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("runner"))
    assert "time/iter" in lines[header]
    assert "speedup" in lines[header]
    assert "of bound" in lines[header]
    rows = {line.split()[0]: line for line in lines[header + 1 :] if line.strip()}
    assert "1.00x" in rows["numpy"]
    for backend in twolayer.available_backends():
        assert backend in rows
    assert "roofline bound" in proc.stdout
    assert 'pip install "twolayer[plot]"' in proc.stdout  # how to get the chart


def test_scaling_json_float32_two_threads() -> None:
    proc = bench(
        *TINY, "--scale", "hidden", "--values", "2,4", "--dtype", "float32", "--threads", "2",
        "--no-memory", "--json", "--backends", "numpy",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["settings"] == {
        "dtype": "float32", "threads": 2, "repeat": 2, "scale": "hidden",
        "runners": ["numpy", "tutorial"],
        "roofline_from": twolayer._cpu.selected_variant(),  # the build this CPU loads
    }  # fmt: skip
    assert [p["workload"]["hidden"] for p in report["points"]] == [2, 4]
    for p in report["points"]:
        # Scaling without --workload starts from the large run (20 features).
        n, f, h = 60, 20, p["workload"]["hidden"]
        assert p["work_per_iteration"]["multiply_adds"] == n * h * (2 * f + 3)
        assert p["work_per_iteration"]["x_bytes"] == n * f * 4
        assert p["results"][0]["cost_rel_diff"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "nosuch"], "--compare takes"),
        (["--backends", "fortran"], "--backends takes"),
        (["--values", "3"], "--values needs --scale"),
        (["--learning-rate", "-1"], "--learning-rate must be > 0"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _bench.main([*TINY, "--no-memory", "--backends", "numpy", *args]) == 2
    assert message in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_get_it() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from twolayer._bench import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = bench(*TINY, "--no-memory", "--plot", "out.png", code=code)
    assert proc.returncode == 2
    assert 'pip install "twolayer[plot]"' in proc.stderr


def test_plot_writes_png(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.png"
    args = [*TINY, "--no-memory", "--json", "--backends", "numpy", "--plot", str(out)]
    assert _bench.main(args) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_has_bench_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from twolayer import cli

    args = ["bench", *TINY, "--no-memory", "--json", "--backends", "numpy"]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"][0]["results"][0]["name"] == "numpy"


def test_python_m_twolayer_bench_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twolayer", "bench", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "--compare" in proc.stdout


def test_work_and_roofline() -> None:
    wl = _bench_workloads.Workload("w", n_samples=10, n_features=3, hidden=4, n_outputs=2,
                         iterations=1, learning_rate=0.1)  # fmt: skip
    work = wl.work(8)
    assert work == {"multiply_adds": 10 * 4 * (6 + 6), "tanh": 40, "exp": 20, "log1p": 20,
                    "x_bytes": 240}  # fmt: skip
    rates = {"multiply_adds_per_s": 1e9, "tanh_per_s": 1e9, "exp_per_s": 1e9,
             "log1p_per_s": 1e9, "bytes_per_s": 1.0}  # fmt: skip
    assert _bench_measure.roofline(work, rates)["limit"] == "memory"
    assert _bench_measure.roofline(work, rates)["bound_s"] == 240.0
    rates["bytes_per_s"] = 1e12
    bound = _bench_measure.roofline(work, rates)
    assert bound["limit"] == "multiply_adds"
    assert np.isclose(bound["bound_s"], (480 + 80) / 1e9)


def test_workload_data_is_deterministic() -> None:
    wl = _bench_workloads.WORKLOADS["large"]
    small = _bench_workloads.Workload(**{**wl.__dict__, "n_samples": 50})
    X1, Y1 = small.data(np.dtype(np.float32))
    X2, Y2 = small.data(np.dtype(np.float32))
    assert X1.shape == (20, 50) and Y1.shape == (1, 50)
    assert X1.dtype == np.float32
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    X, Y = _bench_workloads.WORKLOADS["tutorial"].data(np.dtype(np.float64))
    assert X.shape == (2, 500)
    assert set(np.unique(Y)) == {0.0, 1.0}


@pytest.mark.parametrize("single", [False, True])
def test_peak_loop_does_the_multiply_adds_it_counts(single: bool) -> None:
    # The roofline's multiply-add rate is fma_peak's count over its time: the count must be
    # the work done. Each chain i runs x -> a x + b from x0 = (i + 2) b, a = 1 - 1e-6,
    # b = 1e-6, so after n rounds x = 1 + (x0 - 1) a^n; the checksum is the sum of all.
    kernels = _bench_measure.kernel_build()
    assert kernels is not None and kernels.__name__ == twolayer._cpu.selected_variant()
    rounds = 100_000
    done, checksum = kernels.fma_peak(rounds, single)
    build = kernels.__name__.rsplit("_cython_kernels", 1)[1]  # "", "_avx2" or "_avx512"
    vector_bytes = {"_avx512": 64, "_avx2": 32}.get(build, 16)
    chains = 16 if vector_bytes == 64 else 12
    lanes = vector_bytes // (4 if single else 8)
    assert done == rounds * chains * lanes
    a, b = 1 - 1e-6, 1e-6
    if single:
        a, b = float(np.float32(a)), float(np.float32(b))
    expected = lanes * sum(1 + ((i + 2) * b - 1) * a**rounds for i in range(chains))
    # float32: each step's b = 1e-6 is 17 ulp of x near 1, so rounding drifts the sum by ~1%.
    assert checksum == pytest.approx(expected, rel=0.05 if single else 1e-9)


def test_roofline_comes_from_the_kernels_not_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = _bench_measure.measure_rates(np.dtype(np.float64), 1, quick=True)
    # NumPy's rates are reported beside the bound's, which are measured separately.
    assert {"numpy_tanh_per_s", "blas_multiply_adds_per_s", "tanh_per_s"} <= set(rates)
    assert rates["tanh_per_s"] != rates["numpy_tanh_per_s"]
    assert rates["multiply_adds_per_s"] != rates["blas_multiply_adds_per_s"]
    # Without the compiled kernels the bound falls back to NumPy's own rates.
    monkeypatch.setattr(_bench_measure, "kernel_build", lambda: None)
    fallback = _bench_measure.measure_rates(np.dtype(np.float64), 1, quick=True)
    assert fallback["tanh_per_s"] == fallback["numpy_tanh_per_s"]
    assert fallback["multiply_adds_per_s"] == fallback["blas_multiply_adds_per_s"]


KERNEL_FUNCTIONS = ("tanh", "exp_neg", "log1p_unit")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", KERNEL_FUNCTIONS)
def test_compiled_rate_loop_gives_the_one_call_values(name: str, dtype: type) -> None:
    # The roofline times ``fn(x, out, repeats)``: each repeat must be the one-call evaluation.
    kernels = _bench_measure.kernel_build()
    assert kernels is not None
    domains = _bench_measure._domains(1000, np.dtype(dtype))
    x = domains[{"tanh": "tanh", "exp_neg": "exp", "log1p_unit": "log1p"}[name]]
    fn = getattr(kernels, name)
    once, repeated = np.empty_like(x), np.empty_like(x)
    fn(x, once)
    fn(x, repeated, 5)
    np.testing.assert_array_equal(repeated, once)
    # In place, the loop composes: 3 repeats equal 3 calls, so all 3 ran (none hoisted).
    nested, stepped = x.copy(), x.copy()
    fn(nested, nested, 3)
    for _ in range(3):
        fn(stepped, stepped)
    np.testing.assert_array_equal(nested, stepped)
    assert not np.array_equal(nested, x)  # each repeat changes the values: a real check


def test_transcendental_rates_count_every_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake clock that advances 2 ns per evaluation: the rate must come out 0.5 G/s per
    # thread, so the count of values x repeats and the thread factor are right.
    clock = [0.0]
    calls: list[tuple[int, int]] = []

    def fake(x: np.ndarray, out: np.ndarray, repeats: int) -> None:
        calls.append((x.size, repeats))
        clock[0] += 2e-9 * x.size * repeats

    class FakeTime:
        thread_time = staticmethod(lambda: clock[0])
        perf_counter = thread_time

    monkeypatch.setattr(_bench_measure, "time", FakeTime)
    rates = _bench_measure._transcendental_rates(
        {"tanh": fake, "exp": fake}, np.dtype(np.float64), 2, True, 512
    )
    assert rates == pytest.approx({"tanh_per_s": 1e9, "exp_per_s": 1e9})
    assert {size for size, _ in calls} == {512} and min(r for _, r in calls) > 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_measured_rates_are_positive_and_finite(dtype: type) -> None:
    rates = _bench_measure.measure_rates(np.dtype(dtype), 1, quick=True)
    for key in ("tanh", "exp", "log1p"):
        for name in (f"{key}_per_s", f"numpy_{key}_per_s"):
            assert np.isfinite(rates[name]) and rates[name] > 0, name


def test_kernel_rates_are_the_bounds_compute_rates() -> None:
    rates = _bench_measure.kernel_rates(np.dtype(np.float64), 1, quick=True)
    if _bench_measure.kernel_build() is None:
        assert rates == {}
        return
    assert set(rates) == {"multiply_adds_per_s", "tanh_per_s", "exp_per_s", "log1p_per_s"}
    assert all(np.isfinite(v) and v > 0 for v in rates.values())


def test_best_rates_takes_each_rate_from_the_counts_that_have_it() -> None:
    full = {"tanh_per_s": 1.0, "exp_per_s": 4.0, "bytes_per_s": 7.0}
    between = [{"tanh_per_s": 3.0, "exp_per_s": 2.0}, {"tanh_per_s": 2.0, "exp_per_s": 5.0}]
    assert _bench_measure.best_rates(full, *between) == {
        "tanh_per_s": 3.0,
        "exp_per_s": 5.0,
        "bytes_per_s": 7.0,
    }


def test_rates_are_measured_again_after_every_round() -> None:
    wl = _bench_workloads.Workload("tiny", 40, 2, 3, 1, 2, 0.3)
    rounds: list[int] = []
    point = _bench_measure.run_point(
        wl, ["numpy", "tutorial"], np.dtype(np.float64), 1, 3, memory=False, quiet=True,
        after_round=lambda: rounds.append(len(rounds)),
    )  # fmt: skip
    assert rounds == [0, 1, 2]
    assert all(len(e["times_s"]) == 3 for e in point["results"])


def test_jax_is_compared_on_the_same_computation_or_reported_missing() -> None:
    proc = bench(*TINY, "--json", "--no-memory", "--backends", "numpy", "--compare", "jax")
    assert proc.returncode == 0, proc.stderr
    results = {e["name"]: e for e in json.loads(proc.stdout)["points"][0]["results"]}
    assert list(results) == ["numpy", "tutorial", "jax"]
    # The article's own code from the same start: the same last cost.
    assert results["tutorial"]["cost_rel_diff"] < 1e-12
    assert results["numpy"]["vs_tutorial"] == pytest.approx(
        results["tutorial"]["time_per_iter_s"] / results["numpy"]["time_per_iter_s"]
    )
    jax = results["jax"]
    if jax["status"] == "missing":
        assert "pip install jax" in jax["reason"]
    else:
        assert jax["status"] == "ok", jax
        assert jax["cost_rel_diff"] < 1e-12  # float64 (x64 enabled), same start


# --- ``--workload epoch --compare sklearn`` (issue 15): scikit-learn's MLPClassifier, same epochs

EPOCH_TINY = ["--workload", "epoch", "--n-samples", "700", "--hidden", "8", "--repeat", "1"]


def test_epoch_compare_sklearn_times_the_same_epochs() -> None:
    """The JSON report carries scikit-learn's epoch times next to ours, and its in-order
    epoch agrees with the reference's (the same start, batches and Adam arithmetic)."""
    backends = [b for b in twolayer.available_backends() if b != "numpy"][:1] or ["numpy"]
    proc = bench(*EPOCH_TINY, "--json", "--compare", "sklearn", "--backends", *backends)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    sk = report["sklearn"]
    if not _bench_workloads.has_module("sklearn"):
        assert sk["status"] == "missing" and "pip install" in sk["reason"]
        return
    assert sk["status"] == "ok", sk
    assert set(sk["times"]) == {"epoch", "shuffled epoch"}
    assert all(0 < t < 60 for t in sk["times"].values())
    assert sk["reference_error"] <= 1e-9  # issue 15's bar for scikit-learn parity
    assert list(report["times"]) == [b for b in backends if b != "numpy"]  # ours only


def test_epoch_sklearn_runner_is_our_epoch() -> None:
    """sklearn_epoch runs what run_epoch runs: its in-order weights and cost equal our fit's
    (so the same initial weights reached scikit-learn), and its shuffled epoch differs."""
    pytest.importorskip("sklearn")
    from twolayer import _bench_epochs

    X, Y = _bench_epochs.data(900, 5, np.dtype(np.float64))
    seconds, params, cost = _bench_epochs.sklearn_epoch(X, Y, 6, False)
    ours, costs = _bench_epochs.run_epoch("numpy", X, Y, 6, False, 1)
    assert seconds > 0
    assert cost == pytest.approx(float(costs[0]), rel=1e-12)
    for key, value in ours.items():
        np.testing.assert_allclose(params[key], value, rtol=1e-10, atol=1e-14)
    _, shuffled, shuffled_cost = _bench_epochs.sklearn_epoch(X, Y, 6, True)
    assert np.isfinite(shuffled_cost) and shuffled_cost != cost
    assert not np.allclose(shuffled["W1"], params["W1"], rtol=1e-6)


def test_epoch_compare_reports_missing_sklearn() -> None:
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from twolayer._bench import main; sys.exit(main(sys.argv[1:]))"
    )
    backends = [b for b in twolayer.available_backends() if b != "numpy"][:1] or ["numpy"]
    proc = bench(*EPOCH_TINY, "--compare", "sklearn", "--backends", *backends, code=code)
    assert proc.returncode == 0, proc.stderr
    assert "scikit-learn: missing (not installed: pip install scikit-learn" in proc.stdout


def test_epoch_compare_takes_sklearn_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench.main([*EPOCH_TINY, "--compare", "torch"]) == 2
    assert "--workload epoch compares with sklearn only" in capsys.readouterr().err
