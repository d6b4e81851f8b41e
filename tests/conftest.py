import pytest

from twolayer.datasets import make_moons


@pytest.fixture(scope="session")
def moons():
    """The tutorial's data: two moons, 500 samples, noise 0.2 (fixed seed)."""
    return make_moons(n_samples=500, noise=0.2, seed=0)
