"""twolayer.save / twolayer.load: round trips, and files that must be refused."""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import twolayer
from twolayer import ModelFileError, TwoLayerClassifier


@pytest.fixture(scope="module")
def params(moons):
    X, Y = moons
    return twolayer.fit(X, Y, 0.3, 5, 200)[0]


@pytest.fixture(scope="module")
def model_file(params, tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "model.npz"
    twolayer.save(params, path)
    return path


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_params_round_trip(dtype, moons, tmp_path):
    X, Y = moons
    params, _ = twolayer.fit(X.astype(dtype), Y, 0.3, 5, 50)
    path = tmp_path / "p.npz"
    assert twolayer.save(params, path) == path
    loaded = twolayer.load(path)
    assert set(loaded) == {"W1", "b1", "W2", "b2"}
    for key in params:
        assert loaded[key].dtype == dtype
        np.testing.assert_array_equal(loaded[key], params[key])
    np.testing.assert_array_equal(twolayer.predict(loaded, X), twolayer.predict(params, X))


def test_file_layout_is_documented_plain_arrays(model_file, params):
    with np.load(model_file, allow_pickle=False) as data:
        assert str(data["__twolayer__"]) == "twolayer-model"
        assert int(data["format_version"]) == 1
        assert str(data["kind"]) == "params"
        assert str(data["dtype"]) == "float64"
        assert data["shapes"].tolist() == [2, 5, 1]
        np.testing.assert_array_equal(data["W2"], params["W2"])
    assert zipfile.is_zipfile(model_file)


def test_save_writes_exactly_the_path_and_leaves_no_temporary_file(params, tmp_path):
    twolayer.save(params, tmp_path / "model.bin")
    twolayer.save(params, str(tmp_path / "again.npz"))
    assert sorted(os.listdir(tmp_path)) == ["again.npz", "model.bin"]


@pytest.mark.parametrize("labels", ["binary-strings", "multiclass", "multilabel"])
def test_estimator_round_trip(labels, moons, tmp_path):
    X, Y = moons
    X = X.T
    if labels == "binary-strings":
        y = np.where(Y.ravel() == 1, "inner", "outer")
    elif labels == "multiclass":
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.25).astype(int) * 2  # 4 quadrants
    else:
        y = np.column_stack([X[:, 0] > 0.5, X[:, 1] > 0, Y.ravel()]).astype(int)
    clf = TwoLayerClassifier(hidden_size=6, max_iter=300, learning_rate=0.5, random_state=1)
    clf.fit(X, y)
    path = tmp_path / "clf.npz"
    twolayer.save(clf, path)
    loaded = twolayer.load(path)
    assert isinstance(loaded, TwoLayerClassifier)
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.loss_curve_, clf.loss_curve_)
    assert loaded.n_iter_ == clf.n_iter_ == 300 and loaded.n_features_in_ == 2
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # The loaded model keeps training where the saved one stopped.
    loaded.set_params(warm_start=True).fit(X, y)
    longer = TwoLayerClassifier(hidden_size=6, max_iter=600, learning_rate=0.5, random_state=1)
    np.testing.assert_array_equal(loaded.loss_curve_, longer.fit(X, y).loss_curve_)


def test_estimator_settings_that_are_not_plain_values(moons, tmp_path):
    X, Y = moons
    clf = TwoLayerClassifier(max_iter=20, dtype=np.float32, callback=lambda *a: False)
    clf.fit(X.T, Y.ravel())
    twolayer.save(clf, tmp_path / "m.npz")
    loaded = twolayer.load(tmp_path / "m.npz")
    assert loaded.dtype == "float32" and loaded.callback is None
    assert loaded.coefs_[0].dtype == np.float32


def test_missing_file_and_bad_arguments(params, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        twolayer.load(tmp_path / "nope.npz")
    with pytest.raises(TypeError, match="path"):
        twolayer.save(params, 42)
    with pytest.raises(TypeError, match="params_or_estimator"):
        twolayer.save([1, 2], tmp_path / "x.npz")
    with pytest.raises(ValueError, match="not fitted"):
        twolayer.save(TwoLayerClassifier(), tmp_path / "x.npz")
    with pytest.raises(ValueError, match="b1"):
        twolayer.save({**params, "b1": np.zeros((3, 1))}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_truncated_files_are_refused(keep, model_file, tmp_path):
    data = model_file.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match=r"corrupt|truncated|not an \.npz|not a twolayer"):
        twolayer.load(cut)


def test_corrupted_bytes_are_refused(model_file, tmp_path):
    data = bytearray(model_file.read_bytes())
    start = data.index(b"W1.npy") + 40  # inside the compressed W1 member
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        twolayer.load(bad)


class _Boom:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_files_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(ModelFileError, match="pickle"):
        twolayer.load(path)
    assert not marker.exists()


def test_npz_with_a_pickled_member_is_refused(params, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = _Boom(marker)
    np.savez(
        path, __twolayer__=np.array("twolayer-model"), format_version=np.array(1),
        kind=np.array("params"), dtype=np.array("float64"), shapes=np.array([2, 5, 1]),
        W1=payload, b1=params["b1"], W2=params["W2"], b2=params["b2"],
    )  # fmt: skip
    with pytest.raises(ModelFileError, match="pickle"):
        twolayer.load(path)
    assert not marker.exists()


def _rewrite(source: Path, target: Path, **changes):
    with np.load(source, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"__twolayer__": None}, "not a twolayer model file"),
        ({"__twolayer__": np.array("something-else")}, "not a twolayer model file"),
        ({"format_version": np.array(3)}, "format 3.*upgrade twolayer"),
        ({"format_version": np.array("1")}, "format_version"),
        ({"dtype": np.array("float16")}, "dtype"),
        ({"dtype": np.array("float32")}, "W1 has dtype float64"),
        ({"shapes": np.array([3, 5, 1])}, "shapes"),
        ({"W2": np.zeros((1, 4))}, "inconsistent parameters"),
        ({"b2": None}, "'b2' is missing"),
        ({"kind": np.array("pipeline")}, "unknown kind"),
        ({"W1": np.full((5, 2), np.nan)}, "NaN"),
    ],
)
def test_foreign_or_inconsistent_archives_are_refused(changes, match, model_file, tmp_path):
    path = _rewrite(model_file, tmp_path / "m.npz", **changes)
    with pytest.raises(ModelFileError, match=match):
        twolayer.load(path)


def test_estimator_files_are_checked(moons, tmp_path):
    X, Y = moons
    clf = TwoLayerClassifier(max_iter=10).fit(X.T, Y.ravel())
    good = tmp_path / "clf.npz"
    twolayer.save(clf, good)
    cases = [
        ({"classes": np.array([0, 1, 2])}, "3 classes do not fit a binary model"),
        ({"target_kind": np.array("ranking")}, "target_kind"),
        ({"estimator_params": np.array("{not json")}, "JSON"),
        ({"loss_curve": None}, "'loss_curve' is missing"),
    ]
    for changes, match in cases:
        with pytest.raises(ModelFileError, match=match):
            twolayer.load(_rewrite(good, tmp_path / "m.npz", **changes))


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("W1,b1\n1,2\n")
    with pytest.raises(ModelFileError, match=r"not an \.npz archive"):
        twolayer.load(text)
    npy = tmp_path / "array.npz"
    with npy.open("wb") as handle:
        np.save(handle, np.arange(3))
    with pytest.raises(ModelFileError, match=r"not an \.npz archive"):
        twolayer.load(npy)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(ModelFileError, match="not a twolayer model file"):
        twolayer.load(foreign)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError):
        twolayer.load(empty)
    assert issubclass(ModelFileError, ValueError)
