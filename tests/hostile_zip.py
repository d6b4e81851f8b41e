"""Model files built by hand to attack twolayer.load (tests and benchmarks share them)."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np

BOMB_SHAPE = (16384, 16384)  # float64: 2 GiB of zeros


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    out = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A zip archive by hand: (name, raw deflate data, declared size, declared CRC) each.

    By hand so that a test can declare sizes and CRCs that differ from the data.
    """
    local, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        encoded = name.encode()
        fields = (20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded))
        central += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0,
                               len(local))  # fmt: skip
        central += encoded
        local += struct.pack("<4s5H3I2H", b"PK\x03\x04", *fields, 0) + encoded + data
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central),
                      len(local), 0)  # fmt: skip
    path.write_bytes(bytes(local + central + end))


def model_members(params: dict[str, np.ndarray], **replace: bytes) -> list:
    """A valid params model file's members as write_zip takes them; ``replace`` swaps data."""
    arrays = {
        "__twolayer__": np.array("twolayer-model"), "format_version": np.array(1),
        "kind": np.array("params"), "dtype": np.array("float64"),
        "shapes": np.array([params["W1"].shape[1], *params["W2"].shape[::-1]]),
        **params,
    }  # fmt: skip
    members = []
    for key, array in arrays.items():
        if key in replace:
            members.append(replace[key])
            continue
        data = npy_bytes(array)
        members.append((f"{key}.npy", deflate(data), len(data), zlib.crc32(data)))
    return members


def build_bomb(path: Path) -> Path:
    """A ~2 MB model file whose W1 holds 2 GiB of zeros, honestly declared.

    Deflate blocks that end in a full flush are independent, so one compressed
    16 MiB block of zeros repeated 128 times, plus an empty final block, is one
    valid stream (built in a second rather than compressed in ten).
    """
    chunk = bytes(1 << 24)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    header = npy_header(BOMB_SHAPE)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = packer.compress(header) + packer.flush(zlib.Z_FULL_FLUSH)
    repeats = BOMB_SHAPE[0] * BOMB_SHAPE[1] * 8 // len(chunk)
    data = first + block * repeats + zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = zlib.crc32(header)
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    size = len(header) + repeats * len(chunk)
    hidden, features = BOMB_SHAPE
    small = {"b1": np.zeros((hidden, 1)), "W2": np.zeros((1, hidden)), "b2": np.zeros((1, 1))}
    members = model_members({"W1": np.empty((0, features)), **small},
                            W1=("W1.npy", data, size, crc))  # fmt: skip
    write_zip(path, members)
    return path


