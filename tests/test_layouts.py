"""Views, Fortran order and non-contiguous arrays give the results of contiguous copies."""

import numpy as np
import pytest

import twolayer


def _layouts(X):
    yield "C", np.ascontiguousarray(X)
    yield "F", np.asfortranarray(X)
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3))
    wide[::2, ::3] = X
    yield "strided", wide[::2, ::3]
    yield "reversed", np.ascontiguousarray(X[:, ::-1])[:, ::-1]
    readonly = X.copy()
    readonly.flags.writeable = False
    yield "read-only", readonly


@pytest.mark.parametrize("backend", twolayer.available_backends())
def test_every_memory_layout_gives_identical_results(backend, moons):
    X, Y = moons
    X = X[:, :300]
    Y = Y[:, :300]
    expected_params, expected_costs = twolayer.fit(X.copy(), Y.copy(), 0.3, 5, 40, backend=backend)
    # The compiled kernels read every layout through the same tile gather: identical
    # bits. The reference's matrix products go through BLAS, whose kernels (and so
    # the last bits) depend on the operands' layout.
    rtol = 0.0 if backend != "numpy" else 1e-12
    for name, X_view in _layouts(X):
        for y_name, Y_view in _layouts(Y):
            params, costs = twolayer.fit(X_view, Y_view, 0.3, 5, 40, backend=backend)
            message = f"X {name}, Y {y_name}"
            np.testing.assert_allclose(costs, expected_costs, rtol=rtol, atol=0, err_msg=message)
            for key in params:
                np.testing.assert_allclose(
                    params[key],
                    expected_params[key],
                    rtol=rtol,
                    atol=1e-15 * (rtol > 0),
                    err_msg=message,
                )
