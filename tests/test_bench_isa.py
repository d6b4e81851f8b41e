"""``twolayer bench``'s ISA report (python/twolayer/_bench_isa.py): imports only, no compile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import llvmlite.binding as llvm
import numba
import pytest

import twolayer
from twolayer import _bench_isa, _cpu, _numba_jit

HOST_AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


def test_cython_is_the_build_loaded_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWOLAYER_CPU_FEATURES", raising=False)
    isa = _bench_isa.isa_report(["numpy", "cython"])["isa"]
    assert list(isa) == ["cython"]  # the reference has no ISA to report
    loaded = _cpu.selected_variant()
    level = {"_avx512": "avx512", "_avx2": "avx2", "": "baseline"}
    assert isa["cython"] == {
        "variant": level[loaded.rsplit("_cython_kernels", 1)[1]],
        "module": loaded,
        "forced": None,
    }
    monkeypatch.setenv("TWOLAYER_CPU_FEATURES", "avx2")
    forced = _bench_isa.isa_report(["cython"])["isa"]["cython"]
    assert forced["forced"] == "avx2"
    assert _bench_isa.describe("cython", forced).endswith(", TWOLAYER_CPU_FEATURES=avx2)")


@pytest.mark.parametrize(
    ("name", "features", "warns"),
    [
        ("haswell", None, True),  # a named CPU with this machine's features: the trap
        ("haswell", _bench_isa.AVX2_FEATURES, False),
        (None, None, False),  # the host: its name and its features
        ("generic", "", False),
        ("host", None, False),
    ],
)
def test_numba_reports_its_cpu_and_real_vector_width(
    monkeypatch: pytest.MonkeyPatch, name: str | None, features: str | None, warns: bool
) -> None:
    monkeypatch.setattr(numba.config, "CPU_NAME", name)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", features)
    monkeypatch.setattr(_numba_jit, "VECTOR_BYTES", 64)  # the width the kernels use
    report = _bench_isa.isa_report(["numba"])
    isa = report["isa"]["numba"]
    assert isa["vector_bits"] == 512
    assert isa["features"] == ("this machine's" if features is None else "NUMBA_CPU_FEATURES")
    if name is None:
        assert isa["cpu"] == f"host ({llvm.get_host_cpu_name()})"
    else:
        assert isa["cpu"] == name
    if warns:
        [warning] = report["warnings"]
        assert f"NUMBA_CPU_NAME={name} without NUMBA_CPU_FEATURES" in warning
        assert "512-bit vectors here" in warning
        assert f"NUMBA_CPU_FEATURES={_bench_isa.AVX2_FEATURES} " in warning
    else:
        assert report["warnings"] == []
    lines = _bench_isa.format_isa(report["isa"], report["warnings"])
    assert lines[0].startswith(f"ISA: numba {isa['cpu']}, 512-bit vectors")
    assert len(lines) == 1 + warns and all(x.startswith("warning: ") for x in lines[1:])


def _numba_isa_in(env: dict[str, str]) -> dict[str, Any]:
    """isa_report(["numba"]) in a fresh process with ``env``: Numba reads it at import."""
    code = "import json, twolayer._bench_isa as b; print(json.dumps(b.isa_report(['numba'])))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_numba_cpu_name_alone_keeps_the_host_width_and_both_give_avx2() -> None:
    # The real environment variables, read by Numba at import (no function is compiled).
    named = _numba_isa_in({"NUMBA_CPU_NAME": "haswell"})
    assert named["isa"]["numba"]["vector_bits"] == (512 if HOST_AVX512 else 256)
    assert len(named["warnings"]) == 1
    avx2 = _bench_isa.AVX2_FEATURES
    both = _numba_isa_in({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": avx2})
    assert both["isa"] == {"numba": {"cpu": "haswell", "features": "NUMBA_CPU_FEATURES",
                                     "vector_bits": 256}}  # fmt: skip
    assert both["warnings"] == []


def test_every_workload_reports_the_isa() -> None:
    # One helper for all: the training table, --workload predict and --workload epoch.
    compiled = [b for b in twolayer.available_backends() if b != "numpy"]
    expected = _bench_isa.format_isa(_bench_isa.isa_report(compiled)["isa"])[0]
    tiny = ["--n-samples", "300", "--features", "3", "--hidden", "4", "--repeat", "1",
            "--no-memory"]  # fmt: skip
    for extra in (["--iterations", "2", "--quick-rates"], ["--workload", "predict"],
                  ["--workload", "epoch"]):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "twolayer._bench", *tiny, *extra], capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout.splitlines(), extra


# --isa avx2: every runner limited, not ours alone.

NUMPY2_DISPATCH = ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]
NUMPY1_DISPATCH = ["SSE42", "AVX2", "FMA3", "AVX512F", "AVX512_SKX", "AVX512_ICL"]
CPU_HAS_AVX2 = bool(_cpu._cpu_features().get("AVX2") and _cpu._cpu_features().get("FMA3"))


@pytest.mark.parametrize(
    ("dispatch", "wide"),
    [
        (NUMPY2_DISPATCH, ["X86_V4", "AVX512_ICL", "AVX512_SPR"]),
        (NUMPY1_DISPATCH, ["AVX512F", "AVX512_SKX", "AVX512_ICL"]),
        (["SSE42", "AVX2"], []),
    ],
)
def test_numpy_targets_beyond_avx2(dispatch: list[str], wide: list[str]) -> None:
    assert _bench_isa.numpy_wide_targets(dispatch) == wide


@pytest.mark.skipif(not CPU_HAS_AVX2, reason="--isa avx2 needs a CPU with AVX2 and FMA")
def test_limited_environment_limits_every_runner_and_keeps_the_rest() -> None:
    environ = {"PATH": "/bin", "XLA_FLAGS": "--xla_dump_to=/tmp/x", "OPENBLAS_CORETYPE": "Zen"}
    before = dict(environ)
    env = _bench_isa.limited_environment("avx2", environ, NUMPY2_DISPATCH)
    assert environ == before  # a copy
    assert env["PATH"] == "/bin"
    assert env["TWOLAYER_CPU_FEATURES"] == "avx2"
    assert (env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"]) == (
        "haswell",
        _bench_isa.AVX2_FEATURES,
    )
    assert env["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL AVX512_SPR"
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX2"
    assert env[_bench_isa.LIMITED_MARKER] == "avx2"
    no_flags = _bench_isa.limited_environment("avx2", {}, [])
    assert no_flags["XLA_FLAGS"] == "--xla_cpu_max_isa=AVX2"
    assert no_flags["NPY_DISABLE_CPU_FEATURES"] == ""


def test_limited_environment_refuses_what_it_cannot_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="--isa takes native or avx2; got 'avx512'"):
        _bench_isa.limited_environment("avx512", {}, [])
    monkeypatch.setattr(_cpu, "_cpu_features", lambda: {"AVX2": False, "FMA3": False})
    with pytest.raises(ValueError, match="--isa avx2: this CPU has no AVX2 and FMA"):
        _bench_isa.limited_environment("avx2", {}, [])


def test_jax_keeps_the_isa_limit_and_runs_on_one_core() -> None:
    from twolayer._bench_workloads import one_core_xla_flags

    one = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    assert one_core_xla_flags("") == one
    assert one_core_xla_flags("--xla_cpu_max_isa=AVX2") == f"--xla_cpu_max_isa=AVX2 {one}"
    mine = "--xla_cpu_multi_thread_eigen=true"
    assert one_core_xla_flags(mine) == mine  # the user's own choice stands


@pytest.mark.skipif(not CPU_HAS_AVX2, reason="--isa avx2 needs a CPU with AVX2 and FMA")
def test_bench_isa_avx2_runs_every_runner_limited_in_a_child() -> None:
    command = [sys.executable, "-m", "twolayer", "bench", "--json", "--quick-rates",
               "--repeat", "1", "--no-memory", "--iterations", "2", "--n-samples", "64",
               "--backends", "cython"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != _bench_isa.LIMITED_MARKER}
    env.pop("TWOLAYER_CPU_FEATURES", None)
    run = subprocess.run([*command, "--isa", "avx2"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    limited = json.loads(run.stdout)
    assert limited["isa"]["cython"]["variant"] == "avx2"
    assert limited["isa"]["cython"]["forced"] == "avx2"
    wide = _bench_isa.numpy_wide_targets(_cpu.numpy_umath().__cpu_dispatch__)
    note = limited["limit"]
    assert note.startswith("every runner limited to AVX2 (--isa)")
    assert f"NumPy without {' '.join(wide)};" in note or not wide
    assert "still on" not in note  # NumPy really turned them off in the child
    assert "OpenBLAS Haswell" in note
    assert not any("OPENBLAS_CORETYPE" in n for n in limited["notes"])  # set on purpose
    results = {e["name"]: e for e in limited["points"][0]["results"]}
    assert list(results) == ["numpy", "tutorial", "cython"]
    assert results["cython"]["time_per_iter_s"] > 0
    assert results["cython"]["cost_rel_diff"] < 1e-12  # the same fit, on AVX2 code
    native = json.loads(
        subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    )
    assert native["limit"] is None
    assert native["isa"]["cython"]["forced"] is None
