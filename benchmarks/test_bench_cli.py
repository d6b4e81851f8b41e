"""Wall time of the command line as a user runs it (issue 17): start-up included.

``twolayer predict model.npz rows.csv`` on 150 rows (iris): target <= 0.5 s on
this machine class; it took 1.9-2.4 s while it imported scikit-learn through
the estimator. Python plus NumPy alone start in about 0.2 s.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("twolayer")


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris()
    directory = tmp_path_factory.mktemp("cli")
    rows = directory / "rows.csv"
    with rows.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*iris.feature_names, "species"])
        for x, t in zip(iris.data, iris.target, strict=True):
            writer.writerow([*x, iris.target_names[t]])
    model = directory / "model.npz"
    subprocess.run([str(SCRIPT), "train", str(rows), "--target", "species", "-o", str(model)],
                   check=True, capture_output=True)  # fmt: skip
    return model, rows


def _predict(model: Path, rows: Path) -> str:
    done = subprocess.run([str(SCRIPT), "predict", str(model), str(rows)], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout


@pytest.mark.benchmark(group="cli")
def test_cli_predict_150_rows(benchmark, iris_files) -> None:  # type: ignore[no-untyped-def]
    out = benchmark.pedantic(_predict, args=iris_files, rounds=5, iterations=1, warmup_rounds=1)
    lines = out.splitlines()
    assert len(lines) == 151 and lines[0].startswith("prediction,proba_setosa")
    species = ["setosa"] * 50 + ["versicolor"] * 50 + ["virginica"] * 50
    right = sum(line.split(",")[0] == t for line, t in zip(lines[1:], species, strict=True))
    assert right >= 140


@pytest.mark.benchmark(group="cli")
def test_python_and_numpy_start(benchmark) -> None:  # type: ignore[no-untyped-def]
    """The floor: an interpreter that imports NumPy and exits."""
    benchmark.pedantic(subprocess.run, args=([sys.executable, "-c", "import numpy"],),
                       kwargs={"check": True}, rounds=5, iterations=1, warmup_rounds=1)  # fmt: skip
