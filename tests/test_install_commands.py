"""The version, show-config and warmup (commands and API)."""

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

import twolayer
from twolayer import _backends
from twolayer.cli import main


def _twolayer(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "twolayer", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def test_version_is_the_installed_distributions(capsys):
    assert twolayer.__version__ == version("twolayer")
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"twolayer {version('twolayer')}"


def test_show_config_reports_every_backend_and_the_build(capsys):
    config = twolayer._show_config.config()
    assert config["twolayer"] == twolayer.__version__
    assert set(config["backends"]) == set(twolayer.BACKENDS)
    cython = config["backends"]["cython"]
    assert cython["loads"] and cython["loaded"] == _backends.load_backend("cython").__name__
    assert cython["builds"][cython["loaded"]] == "loads"
    assert config["build"]["openmp"] is True  # GCC here has OpenMP, and Clang with libomp-dev
    assert "n_threads=None uses" in cython["threads"]
    runtime = "libomp" if config["build"]["compiler"].startswith("Clang") else "libgomp"
    assert any(runtime in path for path in cython["openmp_runtime"]), cython["openmp_runtime"]
    numba = config["backends"]["numba"]
    assert numba["version"] == version("numba") and os.path.isabs(numba["cache_dir"])
    assert config["auto"] == "cython"
    assert config["cpu_features"].startswith("SSE2")
    assert main(["show-config"]) == 0
    out = capsys.readouterr().out
    assert f"twolayer: {twolayer.__version__}" in out and f"loaded: {cython['loaded']}" in out


def test_show_config_says_why_a_backend_does_not_load(backend_cannot_load):
    backend_cannot_load("numba", "libgomp.so.1: cannot open shared object file")
    entry = twolayer._show_config.config()["backends"]["numba"]
    reason = "ImportError: libgomp.so.1: cannot open shared object file"
    assert entry == {"loads": False, "reason": reason}


def test_forced_builds_are_reported_as_disabled():
    out = _twolayer("show-config", TWOLAYER_CPU_FEATURES="baseline")
    assert out.returncode == 0, out.stderr
    assert "loaded: twolayer._cython_kernels\n" in out.stdout
    assert "twolayer._cython_kernels_avx512: disabled by TWOLAYER_CPU_FEATURES" in out.stdout


_FIT_BOTH_DTYPES = """
import json, numpy as np, twolayer
from twolayer import _numba_kernels as k
from twolayer._params import Layout, initial_parameters
from twolayer.datasets import make_moons
X, Y = make_moons(n_samples=300, noise=0.2, seed=0)
for dtype in (np.float64, np.float32):
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    twolayer.fit(Xd, Yd, 0.3, 5, 50, backend="numba")
    theta = initial_parameters(Layout(2, 5, 1), np.dtype(dtype), 3)
    k.gradient_sums(Xd, Yd, theta, np.empty_like(theta), 1)
stats = [f.stats for f in (k._train_chunk, k._gradient_sums)]
print(json.dumps({"hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


@pytest.mark.slow
def test_warmup_compiles_so_that_a_later_process_compiles_nothing(tmp_path):
    cache = tmp_path / "numba-cache"
    first = _twolayer("warmup", NUMBA_CACHE_DIR=str(cache))
    assert first.returncode == 0, first.stderr
    lines = {k: v.strip() for k, v in (line.split(": ", 1) for line in first.stdout.splitlines())}
    dtypes = ("float64", "float32")
    entries = [f"{f}[{d}{v}]" for f in ("train_chunk", "gradient_sums") for d in dtypes
               for v in ("", ", threaded")]  # fmt: skip
    assert all(lines[e] == "compiled" for e in entries), first.stdout
    assert lines["cache"].startswith(str(cache))
    later = subprocess.run(
        [sys.executable, "-c", _FIT_BOTH_DTYPES],
        capture_output=True,
        text=True,
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
        timeout=600,
    )
    assert later.returncode == 0, later.stderr
    # Both dtypes of both entry points (one-slot variants: 300 samples) loaded from the
    # cache, nothing compiled.
    assert json.loads(later.stdout) == {"hits": 4, "misses": 0}
    again = _twolayer("warmup", NUMBA_CACHE_DIR=str(cache))
    assert again.stdout.count("loaded from the cache") == 8


def test_warmup_says_when_nothing_could_be_saved(monkeypatch, capsys):
    # Numba's NullCache (no writable directory) reports no cache path.
    from twolayer import _warmup

    report = {"cache_dir": None, "seconds": 1.0, "entries": {"train_chunk[float64]": "compiled"}}
    monkeypatch.setattr(_warmup, "warmup", lambda: report)
    assert main(["warmup"]) == 2
    assert "no writable Numba cache directory: nothing was saved" in capsys.readouterr().err
