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
