import pytest

from twolayer import _backends
from twolayer.datasets import make_moons


@pytest.fixture(scope="session")
def moons():
    """The tutorial's data: two moons, 500 samples, noise 0.2 (fixed seed)."""
    return make_moons(n_samples=500, noise=0.2, seed=0)


@pytest.fixture
def backend_cannot_load(monkeypatch):
    """``make(name, message)``: backend ``name`` fails at load with ImportError(message),
    as a compiled backend does without its OpenMP runtime (libgomp missing). The
    registry's caches are reset around it, so the failure is seen and then forgotten."""

    def make(name, message):
        def fail():
            raise ImportError(message)

        monkeypatch.setitem(_backends._LOADERS, name, fail)
        monkeypatch.setattr(_backends, "_RESOLVED", {})
        monkeypatch.setattr(_backends, "_LOAD_ERRORS", {})
        _backends._try_load.cache_clear()

    yield make
    _backends._try_load.cache_clear()  # before monkeypatch restores the real loader
