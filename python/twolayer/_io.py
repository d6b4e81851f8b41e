"""Model files: ``save(params_or_estimator, path)`` and ``load(path)``.

A model file is an ``.npz`` archive of plain arrays, read back with
``allow_pickle=False`` so that opening one never runs code. It holds:

- ``__twolayer__``: the marker ``"twolayer-model"``; ``format_version``: 1, or 2
  when the file holds a standardisation (below; older releases refuse those)
- ``kind``: ``"params"`` (the functional API's dict) or ``"estimator"``
- ``dtype``: ``"float32"`` or ``"float64"``; ``shapes``: n_features, hidden, n_outputs
- ``W1``, ``b1``, ``W2``, ``b2`` in the functional API's layout
- estimators also: ``classes``, ``target_kind``, ``estimator_params`` (JSON),
  ``loss_curve``, ``n_iter``, optionally ``validation_loss_curve`` and
  ``feature_names_in``
- optionally (format 2) ``feature_mean`` and ``feature_scale``: the parameters
  apply to ``(x - feature_mean) / feature_scale`` (``twolayer train`` scales)

Every field is checked on loading; a truncated, corrupt, foreign or
pickle-carrying file raises ``ModelFileError`` (a ``ValueError``) saying so.
Each member's dtype and shape are read from its ``.npy`` header and checked
against the sizes the archive declares and against limits before anything
is decompressed (``_npz``), so a zip bomb is refused at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _validation as v

MAGIC = "twolayer-model"
# Format 2 adds feature_mean/feature_scale (standardisation, from `twolayer train`);
# files without them are still written as format 1, which older releases read.
FORMAT_VERSION = 2
_PARAM_KEYS = ("W1", "b1", "W2", "b2")
_JSON_PARAMS = (bool, int, float, str, type(None))
# Members load() reads; any other member of an archive is skipped undecompressed.
_KNOWN_KEYS = frozenset(
    ("__twolayer__", "format_version", "kind", "dtype", "shapes", *_PARAM_KEYS, "classes",
     "target_kind", "estimator_params", "loss_curve", "n_iter", "validation_loss_curve",
     "feature_names_in", "feature_mean", "feature_scale")
)  # fmt: skip


class ModelFileError(ValueError):
    """A file that is not a readable twolayer model (corrupt, truncated, foreign or unsafe)."""


def save(params_or_estimator: Any, path: str | os.PathLike[str]) -> Path:
    """Write parameters (``twolayer.fit``'s dict) or a fitted ``TwoLayerClassifier`` to ``path``.

    The file is written exactly at ``path`` (no suffix is added; ``.npz`` is
    the convention) and atomically: an interrupted save leaves no partial
    file behind. Returns the path.
    """
    path = _check_path(path)
    arrays: dict[str, np.ndarray]
    if isinstance(params_or_estimator, dict):
        params = v.check_params(params_or_estimator)
        arrays = {"kind": np.array("params")}
    elif hasattr(params_or_estimator, "coefs_") and hasattr(params_or_estimator, "classes_"):
        params, arrays = _estimator_arrays(params_or_estimator)
    elif hasattr(params_or_estimator, "get_params") and hasattr(params_or_estimator, "fit"):
        raise ValueError("params_or_estimator is an estimator that is not fitted yet; fit it first")
    else:
        raise TypeError(
            "params_or_estimator must be the params dict returned by twolayer.fit or a fitted "
            f"TwoLayerClassifier, got {type(params_or_estimator).__name__}"
        )
    _write_model(path, params, arrays)
    return path


def _write_model(
    path: Path,
    params: dict[str, np.ndarray],
    arrays: dict[str, np.ndarray],
    scaling: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Add the parameters and the header fields to ``arrays`` and write the file."""
    W1, W2 = params["W1"], params["W2"]
    arrays = {
        **arrays,
        "__twolayer__": np.array(MAGIC),
        "format_version": np.array(1 if scaling is None else 2),
        "dtype": np.array(W1.dtype.name),
        "shapes": np.array([W1.shape[1], W1.shape[0], W2.shape[0]], dtype=np.int64),
        **{key: np.ascontiguousarray(params[key]) for key in _PARAM_KEYS},
    }
    if scaling is not None:
        arrays["feature_mean"], arrays["feature_scale"] = (np.asarray(a) for a in scaling)
    _write_atomically(path, arrays)


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a temporary file next to ``path``, then rename it over ``path``.

    A crash leaves either the old file or the new one, never half a model. The
    temporary file is created with mode 0o666 like any ``open(path, "w")``, so
    the umask decides the permissions, as for ``np.save``.
    """
    import secrets  # imported here: ``import twolayer`` stays as fast as ``import numpy``

    directory = path.parent if str(path.parent) else Path(".")
    while True:
        tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)  # fmt: skip
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            payload: dict[str, Any] = arrays  # numpy's stub: **kwds might name allow_pickle
            np.savez_compressed(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Any:
    """Read a model file written by ``save`` (or by ``twolayer train``).

    Returns the params dict, or a fitted ``TwoLayerClassifier`` when an
    estimator was saved. Raises ``FileNotFoundError`` for a missing file and
    ``ModelFileError`` (a ``ValueError``) for anything that is not an intact
    twolayer model file. A file that stores a feature standardisation (``twolayer
    train`` without ``--no-scale``) comes back with it folded into ``W1`` and
    ``b1``, so the result takes raw features.
    """
    data, contents = _read(path)
    if contents.kind == "estimator":
        return _estimator_from(data, contents, Path(path))
    return contents.folded_params()


def read_model(path: str | os.PathLike[str]) -> ModelContents:
    """The checked contents of a model file, without building an estimator (no scikit-learn)."""
    return _read(path)[1]


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], ModelContents]:
    import zipfile
    import zlib

    from . import _npz

    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head[:1] == b"\x80":
        raise ModelFileError(
            f"{path} is a pickle file, which twolayer refuses to load (it could run code); "
            "model files written by twolayer.save contain plain arrays only"
        )
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ModelFileError(
            f"{path} is not a twolayer model file (not an .npz archive; it starts with {head!r})"
        )
    try:
        members = _npz.read_members(path, _KNOWN_KEYS)
        _check_param_headers(members, path)
        data = {key: _npz.read_array(path, member) for key, member in members.items()}
    except ModelFileError:
        raise
    except _npz.ArchiveError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise ModelFileError(
            f"{path} is corrupt or truncated, or not a twolayer model file ({exc})"
        ) from None
    except Exception as exc:  # any other failure of a damaged archive's parser
        raise ModelFileError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    return data, _contents(data, path)


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _text(data: dict[str, np.ndarray], key: str, path: Path) -> str:
    value = _field(data, key, path)
    if value.dtype.kind != "U" or value.ndim != 0:
        raise ModelFileError(f"{path}: field {key!r} must be a text scalar")
    return str(value)


def _field(data: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise ModelFileError(f"{path}: field {key!r} is missing; the file is incomplete")
    return data[key]


def _check_param_headers(members: dict[str, Any], path: Path) -> None:
    """W1, b1, W2, b2 fit together and within limits, judged from their .npy headers alone."""
    if not all(key in members for key in _PARAM_KEYS):
        return  # _from_arrays names what is missing (or that this is no model file)
    for key in _PARAM_KEYS:
        member = members[key]
        if member.dtype.kind != "f" or len(member.shape) != 2:
            raise ModelFileError(
                f"{path}: inconsistent parameters: member {key!r} must be a 2-D float array "
                f"({v.PARAM_LAYOUTS[key]}), got shape {member.shape} of {member.dtype}"
            )
    hidden, n_features = members["W1"].shape
    n_outputs = members["W2"].shape[0]
    expected = {"b1": (hidden, 1), "W2": (n_outputs, hidden), "b2": (n_outputs, 1)}
    for key, shape in expected.items():
        if members[key].shape != shape:
            raise ModelFileError(
                f"{path}: inconsistent parameters: member {key!r} must have shape {shape} "
                f"({v.PARAM_LAYOUTS[key]}) to fit W1 of shape {(hidden, n_features)}, "
                f"got {members[key].shape}"
            )
    try:
        v.check_model_size(hidden, n_features, n_outputs)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _contents(data: dict[str, np.ndarray], path: Path) -> ModelContents:
    """Every field checked, nothing built: what the file says."""
    marker = data.get("__twolayer__")
    if marker is None or marker.dtype.kind != "U" or str(marker) != MAGIC:
        raise ModelFileError(
            f"{path} is an .npz archive but not a twolayer model file (no twolayer marker)"
        )
    version = _field(data, "format_version", path)
    if version.dtype.kind not in "iu" or version.ndim != 0:
        raise ModelFileError(f"{path}: format_version must be an integer")
    if int(version) > FORMAT_VERSION or int(version) < 1:
        raise ModelFileError(
            f"{path} has model format {int(version)}; this twolayer reads formats 1 to "
            f"{FORMAT_VERSION} (upgrade twolayer to read newer files)"
        )
    dtype = _text(data, "dtype", path)
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"{path}: dtype must be float32 or float64, got {dtype!r}")
    params = {key: _field(data, key, path) for key in _PARAM_KEYS}
    for key, array in params.items():
        if array.dtype != np.dtype(dtype):
            raise ModelFileError(f"{path}: {key} has dtype {array.dtype}, the file says {dtype}")
    try:
        params = v.check_params(params)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: inconsistent parameters: {exc}") from None
    shapes = _field(data, "shapes", path)
    expected = [params["W1"].shape[1], params["W1"].shape[0], params["W2"].shape[0]]
    if shapes.shape != (3,) or shapes.tolist() != expected:
        raise ModelFileError(
            f"{path}: shapes {shapes.tolist()} do not match the arrays "
            f"(n_features, hidden, n_outputs = {expected})"
        )
    kind = _text(data, "kind", path)
    scaling = _scaling(data, expected[0], path)
    if kind == "params":
        return ModelContents("params", params, scaling)
    if kind != "estimator":
        raise ModelFileError(f"{path}: unknown kind {kind!r} (expected 'params' or 'estimator')")
    classes = _field(data, "classes", path)
    if classes.ndim != 1 or classes.dtype.kind not in "biufU":
        raise ModelFileError(f"{path}: classes must be a 1-D array of numbers or strings")
    target_kind = _text(data, "target_kind", path)
    n_outputs = params["W2"].shape[0]
    # "softmax": multiclass targets, one softmax over the outputs (issue 15).
    allowed = {"binary": 2, "multiclass": n_outputs, "softmax": n_outputs, "multilabel": n_outputs}
    if target_kind not in allowed:
        raise ModelFileError(f"{path}: unknown target_kind {target_kind!r}")
    if classes.size != allowed[target_kind] or (target_kind == "binary") != (n_outputs == 1):
        raise ModelFileError(
            f"{path}: {classes.size} classes do not fit a {target_kind} model "
            f"with {n_outputs} outputs"
        )
    names = data.get("feature_names_in")
    if names is not None and (names.shape != (expected[0],) or names.dtype.kind != "U"):
        raise ModelFileError(f"{path}: feature_names_in does not match the features")
    return ModelContents("estimator", params, scaling, classes, target_kind, names)


def _scaling(
    data: dict[str, np.ndarray], n_features: int, path: Path
) -> tuple[np.ndarray, np.ndarray] | None:
    """The stored standardisation (feature_mean, feature_scale), checked, or None."""
    present = [key in data for key in ("feature_mean", "feature_scale")]
    if not any(present):
        return None
    if not all(present):
        raise ModelFileError(f"{path}: feature_mean and feature_scale must come together")
    mean, scale = data["feature_mean"], data["feature_scale"]
    for key, array in (("feature_mean", mean), ("feature_scale", scale)):
        if array.shape != (n_features,) or array.dtype != np.float64:
            raise ModelFileError(
                f"{path}: {key} must be a float64 array of {n_features} values (one per "
                f"feature), got shape {array.shape} of {array.dtype}"
            )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ModelFileError(f"{path}: feature_mean must be finite and feature_scale finite > 0")
    return mean, scale


@dataclass(frozen=True)
class ModelContents:
    """A checked model file, without building an estimator (so without scikit-learn).

    ``params`` apply to standardised features when ``scaling`` (mean, scale) is
    set: x -> (x - mean) / scale first.
    """

    kind: str  # "params" or "estimator"
    params: dict[str, np.ndarray]
    scaling: tuple[np.ndarray, np.ndarray] | None = None
    classes: np.ndarray | None = None
    target_kind: str | None = None
    feature_names: np.ndarray | None = None

    def folded_params(self) -> dict[str, np.ndarray]:
        """Parameters for raw features: the standardisation folded into W1 and b1."""
        if self.scaling is None:
            return self.params
        mean, scale = self.scaling
        W1 = self.params["W1"] / scale
        b1 = self.params["b1"] - W1 @ mean[:, np.newaxis]
        dtype = self.params["W1"].dtype
        return {**self.params, "W1": W1.astype(dtype), "b1": b1.astype(dtype)}




def _estimator_arrays(estimator: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = v.check_params(estimator._network_params())
    settings = {
        name: value if isinstance(value, _JSON_PARAMS) else None
        for name, value in estimator.get_params(deep=False).items()
        if name != "callback"
    }
    if estimator.dtype is not None:
        settings["dtype"] = np.dtype(estimator.dtype).name
    arrays = classifier_arrays(
        estimator.classes_,
        estimator._kind,
        settings,
        estimator.loss_curve_,
        estimator.n_iter_,
        getattr(estimator, "validation_loss_curve_", None),
        getattr(estimator, "feature_names_in_", None),
    )
    return params, arrays


def classifier_arrays(
    classes: Any,
    target_kind: str,
    settings: dict[str, Any],
    loss_curve: Any,
    n_iter: int,
    validation_loss_curve: Any = None,
    feature_names: Any = None,
) -> dict[str, np.ndarray]:
    """The fields of an "estimator" model file besides the parameters."""
    import json

    classes = np.asarray(classes)
    if classes.dtype.kind == "O":
        if not all(isinstance(c, str) for c in classes):
            raise TypeError(
                "classes_ of mixed or object types cannot be saved without pickle; "
                "use numeric or string labels"
            )
        classes = classes.astype(str)
    if classes.dtype.kind not in "biufU":
        raise TypeError(f"classes_ of dtype {classes.dtype} cannot be saved")
    arrays = {
        "kind": np.array("estimator"),
        "classes": classes,
        "target_kind": np.array(target_kind),
        "estimator_params": np.array(json.dumps(settings, sort_keys=True)),
        "loss_curve": np.asarray(loss_curve),
        "n_iter": np.array(int(n_iter)),
    }
    if validation_loss_curve is not None:
        arrays["validation_loss_curve"] = np.asarray(validation_loss_curve)
    if feature_names is not None:
        arrays["feature_names_in"] = np.asarray(feature_names).astype(str)
    return arrays


def save_classifier(
    path: str | os.PathLike[str],
    params: dict[str, np.ndarray],
    arrays: dict[str, np.ndarray],
    scaling: tuple[np.ndarray, np.ndarray] | None,
) -> Path:
    """Write a classifier trained without the estimator (``twolayer train``).

    ``arrays`` from ``classifier_arrays``; ``scaling`` (mean, scale) is applied to
    the features before ``params``. ``load`` returns it as a ``TwoLayerClassifier``.
    """
    path = _check_path(path)
    _write_model(path, v.check_params(params), arrays, scaling)
    return path


def _estimator_from(data: dict[str, np.ndarray], contents: ModelContents, path: Path) -> Any:
    import json

    from .estimator import TwoLayerClassifier

    params = contents.folded_params()
    try:
        settings = json.loads(_text(data, "estimator_params", path))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: estimator_params is not valid JSON ({exc})") from None
    if not isinstance(settings, dict):
        raise ModelFileError(f"{path}: estimator_params must be a JSON object")
    known = set(TwoLayerClassifier().get_params(deep=False))
    estimator = TwoLayerClassifier(**{k: val for k, val in settings.items() if k in known})
    loss_curve = _field(data, "loss_curve", path)
    n_iter = _field(data, "n_iter", path)
    if loss_curve.ndim != 1 or loss_curve.dtype.kind != "f":
        raise ModelFileError(f"{path}: loss_curve must be a 1-D float array")
    if n_iter.ndim != 0 or n_iter.dtype.kind not in "iu":
        raise ModelFileError(f"{path}: n_iter must be an integer")
    assert contents.target_kind is not None and contents.classes is not None  # "estimator"
    estimator._set_network(params, contents.target_kind, contents.classes)
    estimator.loss_curve_ = loss_curve
    estimator.n_iter_ = int(n_iter)
    if loss_curve.size:
        estimator.loss_ = float(loss_curve[-1])
    estimator.validation_loss_curve_ = data.get("validation_loss_curve")
    if contents.feature_names is not None:
        estimator.feature_names_in_ = contents.feature_names.astype(object)
    return estimator
