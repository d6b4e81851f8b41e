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


@pytest.mark.parametrize("scale", [True, False])
def test_train_then_predict(scale, moons_csv, tmp_path):
    data, X, labels = moons_csv
    model = tmp_path / "model.npz"
    done = run(
        "train", data, "--target", "moon", "--hidden", "6", "--lr", "0.5",
        "--iterations", "1500", "--backend", "numpy", "-o", model,
        *([] if scale else ["--no-scale"]), check_rc=0,
    )  # fmt: skip
    assert "300 samples, 2 features (x1, x2)" in done.stdout
    assert "classes:    inner, outer" in done.stdout
    assert ("standardised" if scale else "none (--no-scale)") in done.stdout
    assert model.is_file()

    # By default the features are standardised (the mean and population std of each
    # column, stored in the file): the same fit as the estimator's on standardised X.
    X = np.ascontiguousarray(X)  # as read from the CSV (the sums' order follows the layout)
    X_fit = (X - X.mean(axis=0)) / X.std(axis=0) if scale else X
    expected = TwoLayerClassifier(hidden_size=6, learning_rate=0.5, max_iter=1500, backend="numpy")
    expected.fit(X_fit, labels)
    loaded = twolayer.load(model)
    np.testing.assert_array_equal(loaded.loss_curve_, expected.loss_curve_)
    if not scale:
        np.testing.assert_array_equal(loaded.coefs_[0], expected.coefs_[0])
    assert list(loaded.feature_names_in_) == ["x1", "x2"]
    accuracy = float(field(done.stdout, "accuracy"))
    assert accuracy == pytest.approx(expected.score(X_fit, labels), abs=1e-4) and accuracy > 0.9

    out = tmp_path / "predictions.csv"
    done = run("predict", model, data, "-o", out, check_rc=0)
    assert done.stdout.strip() == f"wrote 300 predictions to {out}"
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["prediction", "proba_inner", "proba_outer"]
    predicted = np.array([r[0] for r in rows[1:]])
    np.testing.assert_array_equal(predicted, expected.predict(X_fit))
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(proba, expected.predict_proba(X_fit), rtol=1e-5, atol=1e-12)
    # twolayer.load folds the standardisation into W1 and b1: it takes raw features.
    with pytest.warns(UserWarning, match="fitted with feature names"):  # sklearn's name check
        np.testing.assert_allclose(loaded.predict_proba(X), proba, rtol=1e-5, atol=1e-9)

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


def test_a_broken_bench_module_is_not_hidden(monkeypatch):
    # Only the bench module itself being absent drops the command; any other import
    # failure inside it is a bug and must reach the user.
    from twolayer import cli

    monkeypatch.delitem(sys.modules, "twolayer._bench", raising=False)
    monkeypatch.setitem(sys.modules, "twolayer._bench_measure", None)
    with pytest.raises(ModuleNotFoundError, match="_bench_measure"):
        cli.build_parser()


def test_python_dash_m_and_no_command_run_the_demo():
    done = subprocess.run(
        [sys.executable, "-m", "twolayer", "--iterations", "20"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "first cost" in done.stdout and field(done.stdout, "iterations") == "20"


@pytest.fixture(scope="module")
def breast_cancer_csv(tmp_path_factory):
    """scikit-learn's breast-cancer data as shipped (unscaled: features up to ~2500)."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_breast_cancer()
    path = tmp_path_factory.mktemp("cancer") / "raw.csv"
    rows = [[*map(repr, map(float, x)), int(data.target[i])] for i, x in enumerate(data.data)]
    return write_csv(path, [*data.feature_names, "label"], rows), data.data, data.target


def test_train_standardises_raw_data_by_default(breast_cancer_csv, tmp_path):
    data, X, y = breast_cancer_csv
    model = tmp_path / "model.npz"
    done = run("train", data, "--target", "label", "-o", model, check_rc=0)
    assert float(field(done.stdout, "accuracy")) >= 0.9  # 0.63 (the majority class) unscaled
    assert "warning" not in done.stderr
    with np.load(model) as stored:
        assert int(stored["format_version"]) == 2
        np.testing.assert_array_equal(stored["feature_mean"], X.mean(axis=0))
        np.testing.assert_array_equal(stored["feature_scale"], X.std(axis=0))
    rows = list(csv.reader(run("predict", model, data, check_rc=0).stdout.splitlines()))
    assert np.mean(np.array([int(r[0]) for r in rows[1:]]) == y) >= 0.9


def test_train_warns_when_raw_data_saturates_the_network(breast_cancer_csv, tmp_path):
    data, _, y = breast_cancer_csv
    done = run("train", data, "--target", "label", "--no-scale", "-o", tmp_path / "m.npz",
               check_rc=0)  # fmt: skip
    majority = max(np.mean(y), 1 - np.mean(y))
    assert float(field(done.stdout, "accuracy")) == pytest.approx(majority, abs=1e-4)
    warning = done.stderr.strip()
    assert warning.startswith("twolayer: warning: training ended with the hidden layer saturated")
    assert "the data may need scaling" in warning and "--no-scale" in warning


def test_train_warns_when_the_cost_stays_flat(moons_csv, tmp_path):
    data, _, _ = moons_csv
    done = run("train", data, "--target", "moon", "--lr", "1e-6", "--iterations", "50",
               "-o", tmp_path / "m.npz", check_rc=0)  # fmt: skip
    assert "twolayer: warning: training ended with the cost flat" in done.stderr
    assert "--lr" in done.stderr


@pytest.fixture
def mixed_csv(moons_csv, tmp_path):
    """The moons with an identifier and a text column that are not features."""
    _, X, labels = moons_csv
    rows = [[f"id{i}", repr(float(a)), "note", repr(float(b)), lab]
            for i, ((a, b), lab) in enumerate(zip(X, labels, strict=True))]  # fmt: skip
    return write_csv(tmp_path / "mixed.csv", ["id", "x1", "remark", "x2", "moon"], rows)


def test_features_and_drop_choose_the_columns(mixed_csv, moons_csv, tmp_path):
    plain = tmp_path / "plain.npz"
    run("train", moons_csv[0], "--target", "moon", "--iterations", "300", "-o", plain, check_rc=0)
    refused = run("train", mixed_csv, "--target", "moon", "-o", tmp_path / "m.npz", check_rc=2)
    assert "column 'id': 'id0', which is not a number" in refused.stderr
    assert "--drop" in refused.stderr
    for option in (["--drop", "id,remark"], ["--drop", "id", "--drop", "remark"],
                   ["--features", "x1,x2"], ["--features", "x1", "--features", "x2"]):  # fmt: skip
        model = tmp_path / "m.npz"
        done = run("train", mixed_csv, "--target", "moon", "--iterations", "300", *option,
                   "-o", model, check_rc=0)  # fmt: skip
        assert "2 features (x1, x2)" in done.stdout, option
        expected = twolayer.load(plain).coefs_[0]
        np.testing.assert_array_equal(twolayer.load(model).coefs_[0], expected)
    done = run("train", mixed_csv, "--target", "moon", "--features", "x2", "--iterations", "30",
               "-o", tmp_path / "one.npz", check_rc=0)  # fmt: skip
    assert "1 features (x2)" in done.stdout


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--features", "x1,x3"], "--features: no column 'x3'"),
        (["--drop", "nothing"], "--drop: no column 'nothing'"),
        (["--features", "x1,moon"], "--features: 'moon' is the target"),
        (["--drop", "id,remark,x1,x2"], "no feature columns besides the target"),
        (["--features", "x1", "--drop", "id"], "not allowed with argument"),
    ],
)
def test_bad_column_choices(option, message, mixed_csv, tmp_path):
    done = run("train", mixed_csv, "--target", "moon", *option, "-o", tmp_path / "m.npz",
               check_rc=2)  # fmt: skip
    assert message in done.stderr
    assert not (tmp_path / "m.npz").exists()


def test_train_and_predict_do_not_import_scikit_learn(moons_csv, tmp_path):
    data, _, _ = moons_csv
    model = tmp_path / "model.npz"
    code = (
        "import sys\nfrom twolayer.cli import main\n"
        f"assert main(['train', {str(data)!r}, '--target', 'moon', '--iterations', '20', "
        f"'-o', {str(model)!r}]) == 0\n"
        f"assert main(['predict', {str(model)!r}, {str(data)!r}, '-o', "
        f"{str(tmp_path / 'p.csv')!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    # The file is an estimator model all the same.
    assert isinstance(twolayer.load(model), TwoLayerClassifier)


def test_an_unwritable_model_path_is_one_clear_line(moons_csv, tmp_path):
    # As root, file modes do not stop a write: make the open itself fail as it would.
    prelude = (
        "import errno, os\n"
        "def refuse(path, *args, **kwargs):\n"
        "    raise PermissionError(errno.EACCES, 'Permission denied', path)\n"
        "os.open = refuse"
    )
    done = run("train", moons_csv[0], "--target", "moon", "--iterations", "5",
               "-o", tmp_path / "m.npz", python_prelude=prelude, check_rc=2)  # fmt: skip
    assert done.stderr.startswith("twolayer: error: [Errno 13] Permission denied")
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
