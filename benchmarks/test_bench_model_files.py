"""Refusing a zip bomb: a ~2 MB model file whose W1 holds 2 GiB of zeros (issue 17).

The target is well under 0.5 s (np.load took 11 s and 1.9 GB before the checks);
tests/test_model_files.py checks the refusal and its memory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import twolayer

# The bomb's builder is the tests' (tests/hostile_zip.py), loaded from its file.
_spec = importlib.util.spec_from_file_location(
    "hostile_zip", Path(__file__).resolve().parents[1] / "tests" / "hostile_zip.py"
)
assert _spec is not None and _spec.loader is not None
hostile_zip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile_zip)
build_bomb = hostile_zip.build_bomb


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz")


def _refuse(path: Path) -> str:
    try:
        twolayer.load(path)
    except twolayer.ModelFileError as exc:
        return str(exc)
    raise AssertionError("the bomb was loaded")


@pytest.mark.benchmark(group="model-files")
def test_refuse_zip_bomb(benchmark, bomb) -> None:  # type: ignore[no-untyped-def]
    message = benchmark(_refuse, bomb)
    assert "member 'W1'" in message and "zip bomb" in message
