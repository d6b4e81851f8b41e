"""Reading an ``.npz`` archive defensively (for ``twolayer.load``).

``np.load`` decompresses a member before anything can be checked, so a small
file can claim gigabytes (a zip bomb), and Python's zipfile stops quietly at
the size the archive declares even when the compressed stream holds more.
Here every member's ``.npy`` header (dtype, shape) is read first, from a few
decompressed bytes; the sizes the archive declares must agree with it and
with sane limits before any array is decompressed; then each array is
inflated straight into its final buffer, and a stream that holds more than
declared, ends early or fails its CRC is refused.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import _validation as v

# Model files hold about 15 members; far more is not a model file.
MAX_MEMBERS = 64
# A .npy header is at most 10,000 bytes by NumPy's default (max_header_size).
_MAX_HEADER = 10_000
_CHUNK = 1 << 20
# Trained float weights barely compress (random mantissas: ratio ~1.1), while
# deflate reaches ~1000:1 on zeros. A member over _RATIO_FLOOR bytes that
# claims more than MAX_RATIO times its compressed size is refused as a bomb.
MAX_RATIO = 100
_RATIO_FLOOR = 16 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature ... name length, extra length
_ALLOWED_KINDS = "biufU"


class ArchiveError(ValueError):
    """The archive is unsafe or damaged; the message names the member."""


@dataclass(frozen=True)
class Member:
    """One ``.npy`` member as its headers describe it (nothing decompressed yet)."""

    key: str
    info: zipfile.ZipInfo
    header_size: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_members(path: Path, keys: frozenset[str]) -> dict[str, Member]:
    """The headers of the archive's members whose names are in ``keys`` (others are skipped).

    Raises ``zipfile.BadZipFile`` for a file that is not a zip archive and
    ``ArchiveError`` for an unsafe or inconsistent member.
    """
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"the archive has {len(infos)} members; a model file has about 15")
    members: dict[str, Member] = {}
    size_on_disk = path.stat().st_size
    with path.open("rb") as handle:
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key not in keys:
                continue
            if key in members:
                raise ArchiveError(f"member {key!r} appears twice")
            if info.header_offset + info.compress_size > size_on_disk:
                raise ArchiveError(
                    f"member {key!r} declares more compressed data than the file holds "
                    "(truncated)"
                )
            members[key] = _member(handle, info, key)
    total = sum(m.info.file_size for m in members.values())
    available = v.available_memory()
    if available is not None and total > available:
        raise ArchiveError(
            f"the members declare {total / 2**30:.1f} GiB uncompressed, more than the "
            f"{available / 2**30:.1f} GiB of memory available"
        )
    return members


def _member(handle: BinaryIO, info: zipfile.ZipInfo, key: str) -> Member:
    if info.flag_bits & 0x1:
        raise ArchiveError(f"member {key!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"member {key!r} uses compression method {info.compress_type}")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ArchiveError(
            f"member {key!r} is stored uncompressed but declares {info.file_size} bytes "
            f"in {info.compress_size}"
        )
    if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * info.compress_size:
        raise ArchiveError(
            f"member {key!r} declares {info.file_size / 2**20:.0f} MiB uncompressed from "
            f"{info.compress_size / 2**20:.1f} MiB ({info.file_size / info.compress_size:.0f}:1); "
            "model weights do not compress like that, so it is refused as a zip bomb"
        )
    stream = _Inflater(handle, info)
    prefix = stream.read(min(info.file_size, _MAX_HEADER + 16))
    header = io.BytesIO(prefix)
    try:
        # A damaged header is parsed as a Python literal: silence the Deprecation/
        # SyntaxWarnings of its stray escapes, the error below says what matters.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = np.lib.format.read_magic(header)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(header)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(header)
            else:
                raise ValueError(f".npy format version {version} is not supported")
    except (ValueError, EOFError, SyntaxError) as exc:
        raise ArchiveError(f"member {key!r} has no valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise ArchiveError(
            f"member {key!r} holds pickled Python objects, which twolayer refuses to load "
            "(it could run code); model files written by twolayer.save contain plain arrays only"
        )
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise ArchiveError(f"member {key!r} has dtype {dtype}, which model files do not use")
    member = Member(key, info, header.tell(), tuple(shape), dtype, bool(fortran_order))
    if member.header_size + member.nbytes != info.file_size:
        raise ArchiveError(
            f"member {key!r}: its .npy header declares shape {member.shape} of {dtype} "
            f"({member.header_size + member.nbytes} bytes with the header), the archive "
            f"{info.file_size} bytes"
        )
    return member


def read_array(path: Path, member: Member) -> np.ndarray:
    """Decompress one member into a new array, refusing more or less data than declared."""
    array = np.empty(member.shape, member.dtype, order="F" if member.fortran_order else "C")
    with path.open("rb") as handle:
        stream = _Inflater(handle, member.info)
        if len(stream.read(member.header_size)) != member.header_size:
            raise ArchiveError(f"member {member.key!r} is truncated")
        view = array.reshape(-1, order="A").view(np.uint8).data if array.size else None
        filled = 0
        while view is not None and filled < member.nbytes:
            piece = stream.read(min(_CHUNK, member.nbytes - filled))
            if not piece:
                raise ArchiveError(f"member {member.key!r} is truncated")
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        stream.finish(member.key)
    return array


class _Inflater:
    """The decompressed bytes of one member, read straight from the file in chunks."""

    def __init__(self, handle: BinaryIO, info: zipfile.ZipInfo):
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size).ljust(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for member {info.filename!r}")
        self._handle = handle
        self._position = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
        self._compressed_left = info.compress_size
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        self._pending = b""
        self._crc = 0
        self._expected_crc = info.CRC

    def _raw(self, size: int) -> bytes:
        size = min(size, self._compressed_left)
        if size == 0:
            return b""
        self._handle.seek(self._position)
        data = self._handle.read(size)
        if len(data) != size:
            raise zipfile.BadZipFile("the archive ends inside a member (truncated)")
        self._position += size
        self._compressed_left -= size
        return data

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; fewer only at the end of the member's data."""
        if self._inflate is None:
            data = self._raw(size)
        else:
            parts = []
            while size > 0 and not self._inflate.eof:
                if not self._pending:
                    self._pending = self._raw(_CHUNK)
                    if not self._pending:
                        break
                out = self._inflate.decompress(self._pending, size)
                self._pending = self._inflate.unconsumed_tail
                parts.append(out)
                size -= len(out)
            data = b"".join(parts)
        self._crc = zlib.crc32(data, self._crc)
        return data

    def finish(self, key: str) -> None:
        """Check that the data ended exactly where declared, intact."""
        if self.read(1):
            raise ArchiveError(
                f"member {key!r} decompresses to more data than its .npy header declares"
            )
        if self._inflate is not None and not self._inflate.eof:
            raise ArchiveError(f"member {key!r} is truncated (its compressed data ends early)")
        if self._crc != self._expected_crc:
            raise ArchiveError(f"member {key!r} is corrupt (CRC-32 mismatch)")
