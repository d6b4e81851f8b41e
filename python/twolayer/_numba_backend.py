"""The Numba backend as ``_backends`` loads it.

Every kernel of ``_numba_kernels``, and ``train_epoch`` from ``_numba_epochs``
imported on first use (PEP 562), so that neither loading the backend nor a
default fit compiles the epoch kernels. A module of its own so that
``_numba_epochs``, which builds on ``_numba_kernels``, is not imported back by it
(no import cycle).
"""

from __future__ import annotations

from typing import Any

from . import _numba_kernels


def __getattr__(name: str) -> Any:
    if name == "train_epoch":
        from ._numba_epochs import train_epoch

        return train_epoch
    return getattr(_numba_kernels, name)
