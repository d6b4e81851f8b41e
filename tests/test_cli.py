"""The `twolayer` command, driven in subprocesses as a user would, checking the files it writes."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import twolayer
from twolayer import TwoLayerClassifier
from twolayer.datasets import make_moons

SCRIPT = Path(sys.executable).with_name("twolayer")


def run(*args, cwd=None, check_rc=None, python_prelude=None):
    """Run `twolayer ARGS` (the installed console script) and return the finished process."""
    if python_prelude is None:
        command = [str(SCRIPT), *map(str, args)]
    else:  # the same entry point, after some setup code (e.g. hiding matplotlib)
        code = f"{python_prelude}\nimport sys\nfrom twolayer.cli import main\nsys.exit(main())"
        command = [sys.executable, "-c", code, *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)
    if check_rc is not None:
        assert done.returncode == check_rc, (done.stdout, done.stderr)
    return done


def field(stdout, name):
    line = next(line for line in stdout.splitlines() if line.startswith(name + ":"))
    return line.split(":", 1)[1].split()[0]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def moons_csv(tmp_path_factory):
    X, Y = make_moons(n_samples=300, noise=0.2, seed=1)
    labels = np.where(Y[0] == 1, "inner", "outer")
    path = tmp_path_factory.mktemp("cli") / "moons.csv"
    rows = [
        [repr(float(a)), repr(float(b)), lab] for a, b, lab in zip(X[0], X[1], labels, strict=True)
    ]
    return write_csv(path, ["x1", "x2", "moon"], rows), X.T, labels


def test_console_script_is_installed():
    assert SCRIPT.exists(), f"pip install should have created {SCRIPT}"


def test_demo_reports_the_tutorial_run():
    done = run("demo", check_rc=0)
    X, Y = make_moons(n_samples=500, noise=0.2, seed=0)
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend="numpy")
    backend = field(done.stdout, "backend")
    assert backend == twolayer._backends.resolve_backend("auto")
    assert float(field(done.stdout, "first cost")) == pytest.approx(costs[0], rel=1e-9)
    assert float(field(done.stdout, "last cost")) == pytest.approx(costs[-1], rel=1e-8)
    accuracy = np.mean(twolayer.predict(params, X) == Y)
    assert float(field(done.stdout, "accuracy")) == pytest.approx(accuracy, abs=1e-4)
    assert float(field(done.stdout, "time")) > 0
    if backend != "numpy":
        assert float(field(done.stdout, "reference")) > 0
        speedup = field(done.stdout, "speedup")
        assert speedup.endswith("x") and float(speedup[:-1]) > 0
    assert done.stderr == ""


def test_demo_options():
    done = run("demo", "--backend", "numpy", "--iterations", "50", "--data-seed", "2", check_rc=0)
    X, Y = make_moons(n_samples=500, noise=0.2, seed=2)
    _, costs = twolayer.fit(X, Y, 0.3, 5, 50, backend="numpy")
    assert field(done.stdout, "backend") == "numpy" and field(done.stdout, "iterations") == "50"
    assert float(field(done.stdout, "last cost")) == pytest.approx(costs[-1], rel=1e-9)
    assert "speedup" not in done.stdout  # the reference itself


def test_demo_plot_writes_a_png(tmp_path):
    from matplotlib.image import imread

    out = tmp_path / "demo.png"
    done = run("demo", "--iterations", "1000", "--plot", out, check_rc=0)
    assert field(done.stdout, "plot") == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(out)
    height, width = image.shape[:2]
    assert width > 1.8 * height > 400  # two panels side by side
    assert image[..., :3].std() > 0.1  # not a blank canvas


def test_demo_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    out = tmp_path / "demo.png"
    hide = "import sys; sys.modules['matplotlib'] = None"
    done = run("demo", "--plot", out, python_prelude=hide, check_rc=2)
    assert 'pip install "twolayer[plot]"' in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    plain = run("demo", "--iterations", "10", python_prelude=hide, check_rc=0)  # the rest works
    assert "last cost" in plain.stdout


def test_demo_plot_into_a_missing_directory(tmp_path):
    done = run("demo", "--plot", tmp_path / "no" / "such" / "dir.png", check_rc=2)
    assert "does not exist" in done.stderr


def test_train_then_predict(moons_csv, tmp_path):
    data, X, labels = moons_csv
    model = tmp_path / "model.npz"
    done = run(
        "train", data, "--target", "moon", "--hidden", "6", "--lr", "0.5",
        "--iterations", "1500", "--backend", "numpy", "-o", model, check_rc=0,
    )  # fmt: skip
    assert "300 samples, 2 features (x1, x2)" in done.stdout
    assert "classes:    inner, outer" in done.stdout
    assert model.is_file()

    loaded = twolayer.load(model)
    expected = TwoLayerClassifier(hidden_size=6, learning_rate=0.5, max_iter=1500, backend="numpy")
    expected.fit(X, labels)
    np.testing.assert_array_equal(loaded.loss_curve_, expected.loss_curve_)
    np.testing.assert_array_equal(loaded.coefs_[0], expected.coefs_[0])
    assert list(loaded.feature_names_in_) == ["x1", "x2"]
    accuracy = float(field(done.stdout, "accuracy"))
    assert accuracy == pytest.approx(expected.score(X, labels), abs=1e-4) and accuracy > 0.9

    out = tmp_path / "predictions.csv"
    done = run("predict", model, data, "-o", out, check_rc=0)
    assert done.stdout.strip() == f"wrote 300 predictions to {out}"
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["prediction", "proba_inner", "proba_outer"]
    predicted = np.array([r[0] for r in rows[1:]])
    np.testing.assert_array_equal(predicted, expected.predict(X))
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(proba, expected.predict_proba(X), rtol=1e-5, atol=1e-12)

    printed = run("predict", model, data, check_rc=0)  # no -o: CSV on stdout
    assert list(csv.reader(printed.stdout.splitlines())) == rows


def test_predict_picks_feature_columns_by_name(moons_csv, tmp_path):
    data, X, _ = moons_csv
    model = tmp_path / "model.npz"
    run("train", data, "--target", "moon", "--iterations", "200", "-o", model, check_rc=0)
    shuffled = write_csv(
        tmp_path / "shuffled.csv",
        ["note", "x2", "x1"],
        [["n", repr(float(b)), repr(float(a))] for a, b in X[:20]],
    )
    done = run("predict", model, shuffled, check_rc=0)
    predicted = [row[0] for row in csv.reader(done.stdout.splitlines()[1:])]
    loaded = twolayer.load(model)
    with pytest.warns(UserWarning, match="fitted with feature names"):  # sklearn's name check
        assert predicted == list(loaded.predict(X[:20]))


def test_predict_with_a_params_file(tmp_path):
    X, Y = make_moons(n_samples=50, noise=0.2, seed=3)
    params, _ = twolayer.fit(X, Y, 0.3, 4, 300)
    model = twolayer.save(params, tmp_path / "params.npz")
    data = write_csv(tmp_path / "d.csv", ["a", "b"], X.T.tolist())
    done = run("predict", model, data, check_rc=0)
    rows = list(csv.reader(done.stdout.splitlines()))
    assert rows[0] == ["output_0", "proba_0"]
    np.testing.assert_array_equal([int(r[0]) for r in rows[1:]], twolayer.predict(params, X)[0])


def test_multiclass_integer_labels(tmp_path):
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [3, 0], [0, 3]])
    y = np.repeat([1, 2, 3], 30)
    X = centers[y - 1] + rng.normal(scale=0.5, size=(90, 2))
    data = write_csv(
        tmp_path / "blobs.csv", ["u", "v", "label"], [[*x, t] for x, t in zip(X, y, strict=True)]
    )
    model = tmp_path / "m.npz"
    done = run("train", data, "--target", "label", "-o", model, check_rc=0)
    assert "classes:    1, 2, 3" in done.stdout
    assert float(field(done.stdout, "accuracy")) > 0.95
    rows = list(csv.reader(run("predict", model, data, check_rc=0).stdout.splitlines()))
    assert rows[0] == ["prediction", "proba_1", "proba_2", "proba_3"]
    assert np.mean(np.array([int(r[0]) for r in rows[1:]]) == y) > 0.95


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{missing}", "--target", "moon", "-o", "{out}"], "does not exist"),
        (["train", "{data}", "--target", "colour", "-o", "{out}"], "column 'colour' is not in"),
        (["train", "{text}", "--target", "moon", "-o", "{out}"], "line 3, column 'x2': 'abc'"),
        (["train", "{numeric}", "--target", "c", "-o", "{out}"], "continuous values"),
        (["train", "{data}", "--target", "moon", "--lr", "fast", "-o", "{out}"], "--lr"),
        (["train", "{data}", "--target", "moon", "--hidden", "0", "-o", "{out}"], "--hidden"),
        (["train", "{data}", "--target", "moon", "--iterations", "-5", "-o", "{out}"], "--iter"),
        (["train", "{data}", "--target", "moon", "--backend", "gpu", "-o", "{out}"], "--backend"),
        (["train", "{data}", "-o", "{out}"], "--target"),
        (["train", "{data}", "--target", "moon"], "-o/--output"),
        (["train", "{data}", "--target", "moon", "-o", "{nodir}"], "does not exist"),
        (["predict", "{missing}", "{data}"], "model file"),
        (["predict", "{data}", "{data}"], "not a twolayer model file"),
        (["predict", "{model}", "{missing}"], "does not exist"),
        (
            ["predict", "{model}", "{narrow}"],
            "lacks the feature column(s) the model was trained on: x2",
        ),
        (["demo", "--iterations", "many"], "--iterations"),
        (["bogus"], "invalid choice"),
    ],
)
def test_user_errors_exit_with_2_and_one_clear_line(args, message, moons_csv, tmp_path):
    data, _, _ = moons_csv
    model = tmp_path / "model.npz"
    if "{model}" in args:
        run("train", data, "--target", "moon", "--iterations", "5", "-o", model, check_rc=0)
    paths = {
        "missing": tmp_path / "missing.csv",
        "data": data,
        "text": write_csv(
            tmp_path / "text.csv", ["x1", "x2", "moon"], [[1, 2, "a"], [3, "abc", "b"]]
        ),
        "narrow": write_csv(tmp_path / "narrow.csv", ["x1", "moon"], [[1, "a"]]),
        "numeric": write_csv(tmp_path / "numeric.csv", ["a", "c"], [[1, 0.5], [2, 1.5]]),
        "out": tmp_path / "out.npz",
        "nodir": tmp_path / "nodir" / "m.npz",
        "model": model,
    }
    done = run(*[a.format(**paths) for a in args], check_rc=2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["predict"]])
def test_help_texts(command):
    done = run(*command, "--help", check_rc=0)
    assert done.stdout.startswith("usage: twolayer")
    expected = {
        (): ["demo", "train", "predict"],
        ("demo",): ["--plot", "--backend", "--iterations", "twolayer[plot]"],
        ("train",): ["--target", "--hidden", "--lr", "--iterations", "--backend", "--output"],
        ("predict",): ["MODEL.npz", "DATA.csv", "--output"],
    }[tuple(command)]
    for word in expected:
        assert word in done.stdout


def test_bench_is_registered_when_its_module_imports(monkeypatch):
    from twolayer import cli

    try:
        import twolayer._bench  # noqa: F401
    except ImportError:
        has_bench = False
    else:
        has_bench = True
    assert ("bench" in cli.build_parser().format_help()) == has_bench
    monkeypatch.setitem(sys.modules, "twolayer._bench", None)  # the module missing
    parser = cli.build_parser()
    assert "bench" not in parser.format_help()
    assert parser.parse_args(["demo"]).command == "demo"


def test_python_dash_m_and_no_command_run_the_demo():
    done = subprocess.run(
        [sys.executable, "-m", "twolayer", "--iterations", "20"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "first cost" in done.stdout and field(done.stdout, "iterations") == "20"
