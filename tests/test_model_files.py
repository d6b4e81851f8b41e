"""Hostile model files (zip bombs, lying sizes) and how save() writes files (umask, atomic)."""

import os
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

import twolayer
from hostile_zip import build_bomb, deflate, model_members, npy_bytes, npy_header, write_zip
from twolayer import ModelFileError


@pytest.fixture(scope="module")
def params():
    rng = np.random.default_rng(1)
    return {"W1": rng.standard_normal((5, 2)), "b1": rng.standard_normal((5, 1)),
            "W2": rng.standard_normal((1, 5)), "b2": rng.standard_normal((1, 1))}  # fmt: skip


@pytest.mark.parametrize("order", ["C", "F"])
def test_hand_built_archives_load(order, params, tmp_path):
    path = tmp_path / "hand.npz"
    arrays = {key: np.asarray(value, order=order) for key, value in params.items()}
    write_zip(path, model_members(arrays))
    loaded = twolayer.load(path)
    for key in params:
        np.testing.assert_array_equal(loaded[key], params[key])


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return build_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz")


def test_the_bomb_is_what_it_claims(bomb):
    with zipfile.ZipFile(bomb) as archive:
        info = archive.getinfo("W1.npy")
        assert info.file_size > 2**31  # 2 GiB of zeros (and the header)
        with archive.open(info) as member:  # a valid stream: it starts as declared
            assert member.read(6) == b"\x93NUMPY"
    assert bomb.stat().st_size < 3 * 2**20


def test_a_zip_bomb_is_refused_before_decompressing(bomb):
    # In a fresh process, so that its peak RSS measures this load alone.
    code = textwrap.dedent(
        f"""
        import resource, sys, twolayer
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            twolayer.load({str(bomb)!r})
        except twolayer.ModelFileError as exc:
            print(exc)
        else:
            sys.exit("loaded")
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grown)  # KiB
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    message, grown_kib = proc.stdout.strip().rsplit("\n", 1)
    assert "member 'W1'" in message
    assert "zip bomb" in message
    assert int(grown_kib) < 50 * 1024, f"peak RSS grew by {int(grown_kib) / 1024:.0f} MiB"


def test_a_member_holding_more_than_declared_is_refused(params, tmp_path):
    # The archive declares (and checksums) the 5 x 2 W1 its header describes; the
    # compressed stream holds twice as much. Python's zipfile stops at the declared
    # size and so does np.load: the extra data would go unnoticed.
    header = npy_header((5, 2))
    declared = header + params["W1"].tobytes()
    stream = deflate(declared + params["W1"].tobytes())
    member = ("W1.npy", stream, len(declared), zlib.crc32(declared))
    path = tmp_path / "more.npz"
    write_zip(path, model_members(params, W1=member))
    with np.load(path) as data:  # what numpy makes of it
        np.testing.assert_array_equal(data["W1"], params["W1"])
    with pytest.raises(ModelFileError, match="member 'W1' decompresses to more data"):
        twolayer.load(path)


def test_a_member_holding_less_than_declared_is_refused(params, tmp_path):
    header = npy_header((5, 2))
    data = header + params["W1"].tobytes()
    member = ("W1.npy", deflate(data[:-8]), len(data), zlib.crc32(data))
    path = tmp_path / "less.npz"
    write_zip(path, model_members(params, W1=member))
    with pytest.raises(ModelFileError, match="member 'W1' is truncated"):
        twolayer.load(path)


def test_a_header_that_disagrees_with_the_archive_is_refused(params, tmp_path):
    # The .npy header claims a 5000 x 2 W1; the archive declares the bytes of a 5 x 2 one.
    data = npy_header((5000, 2)) + params["W1"].tobytes()
    member = ("W1.npy", deflate(data), len(data), zlib.crc32(data))
    path = tmp_path / "lying.npz"
    write_zip(path, model_members(params, W1=member))
    with pytest.raises(ModelFileError, match=r"member 'W1': its \.npy header declares shape"):
        twolayer.load(path)


def test_wrong_crc_is_refused(params, tmp_path):
    data = npy_bytes(params["W1"])
    member = ("W1.npy", deflate(data), len(data), zlib.crc32(data) ^ 1)
    path = tmp_path / "crc.npz"
    write_zip(path, model_members(params, W1=member))
    with pytest.raises(ModelFileError, match="member 'W1' is corrupt"):
        twolayer.load(path)


@pytest.mark.parametrize(
    ("key", "array", "match"),
    [
        ("W1", np.zeros(10), r"member 'W1' must be a 2-D float array \(hidden units x features\)"),
        ("b1", np.zeros((4, 1)), r"member 'b1' must have shape \(5, 1\)"),
        ("W2", np.zeros((1, 5), dtype=np.int64), "member 'W2' must be a 2-D float array"),
        ("b2", np.zeros((1, 1), dtype="V8"), "member 'b2' has dtype"),
    ],
)
def test_parameter_members_are_named_in_messages(key, array, match, params, tmp_path):
    data = npy_bytes(array)
    path = tmp_path / "bad.npz"
    write_zip(path, model_members(params, **{key: (f"{key}.npy", deflate(data), len(data),
                                                   zlib.crc32(data))}))  # fmt: skip
    with pytest.raises(ModelFileError, match=match) as info:
        twolayer.load(path)
    assert "one column per sample" not in str(info.value)


def test_functional_api_names_parameter_axes(params):
    with pytest.raises(ValueError, match=r"params\['W1'\] must be 2-D \(hidden units x features\)"):
        twolayer.predict({**params, "W1": np.zeros(10)}, np.zeros((2, 3)))


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_follow_the_umask_like_np_save(umask, params, tmp_path):
    old = os.umask(umask)
    try:
        twolayer.save(params, tmp_path / "model.npz")
        np.save(tmp_path / "reference.npy", np.zeros(1))
    finally:
        os.umask(old)
    mode = (tmp_path / "model.npz").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask
    assert mode == (tmp_path / "reference.npy").stat().st_mode & 0o777
    assert sorted(os.listdir(tmp_path)) == ["model.npz", "reference.npy"]


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(params, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    twolayer.save(params, path)
    before = path.read_bytes()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        twolayer.save({k: v * 2 for k, v in params.items()}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_damaged_files_are_refused_or_read_intact(params, tmp_path):
    """Random byte changes: ModelFileError, or (a change outside the data) the same model."""
    good = tmp_path / "good.npz"
    twolayer.save(params, good)
    data = good.read_bytes()
    rng = np.random.default_rng(17)
    refused = 0
    for trial in range(400):
        damaged = bytearray(data)
        for position in rng.integers(0, len(data), size=rng.integers(1, 5)):
            damaged[position] = rng.integers(0, 256)
        path = tmp_path / f"d{trial}.npz"
        path.write_bytes(bytes(damaged))
        try:
            loaded = twolayer.load(path)
        except ModelFileError:
            refused += 1
            continue
        for key in params:  # CRC-32 guards every member's data
            np.testing.assert_array_equal(loaded[key], params[key])
    assert refused > 300
