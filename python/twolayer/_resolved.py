"""The ``backend`` argument resolved once per value (issue 12: per-call cost).

``resolve_backend("auto")`` asks importlib where the extension and Numba are
(hundreds of microseconds, more than a small fit); which backends are
installed does not change while the process runs, so the answer is kept.
Errors (unknown or unavailable names) are not kept: they raise every time.
"""

from __future__ import annotations

from typing import Any

from ._backends import resolve_backend

_names: dict[str, str] = {}


def backend_name(backend: Any) -> str:
    """``resolve_backend(backend)``, computed once per backend name."""
    name = _names.get(backend) if isinstance(backend, str) else None
    if name is None:
        name = resolve_backend(backend)
        _names[backend] = name
    return name
