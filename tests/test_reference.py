"""The NumPy reference against the tutorial's code and against hand-derived values."""

import math

import numpy as np
import pytest

import tutorial
import twolayer
from support import assert_params_close, relative_error
from twolayer import _reference
from twolayer._params import Layout, initial_parameters


def test_tutorial_run_matches_tutorial_code(moons):
    X, Y = moons
    expected_params, expected_costs = tutorial.fit(X, Y, 0.3, 5, 5000)
    params, costs = twolayer.fit(X, Y, 0.3, 5, 5000, backend="numpy")
    assert costs.shape == (5000,)
    assert relative_error(costs, expected_costs) < 1e-10
    assert_params_close(params, expected_params, 1e-10)
    # The run converges as the article's does (its data had no fixed seed).
    assert costs[0] > 0.5 and costs[-1] < 0.1


def test_tutorial_code_runs_in_fortran_layout_like_the_article(moons):
    # The article passes make_moons(...)[0].T: a Fortran-ordered view.
    X, Y = moons
    Xt = np.ascontiguousarray(X.T).T
    assert Xt.flags.f_contiguous and not Xt.flags.c_contiguous
    expected_params, expected_costs = tutorial.fit(Xt, Y, 0.3, 5, 50)
    params, costs = twolayer.fit(Xt, Y, 0.3, 5, 50, backend="numpy")
    assert relative_error(costs, expected_costs) < 1e-12
    assert_params_close(params, expected_params, 1e-12)


def test_one_iteration_worked_by_hand():
    """Two samples, one feature, one hidden unit, one output, computed with scalar math."""
    X = np.array([[1.0, -2.0]])
    Y = np.array([[1.0, 0.0]])
    lr = 0.5
    rs = np.random.RandomState(3)
    w1 = rs.randn() * math.sqrt(2 / 1)
    w2 = rs.randn() * math.sqrt(2 / 1)
    b1 = b2 = 0.0
    m = 2
    cost = g_w1 = g_b1 = g_w2 = g_b2 = 0.0
    for x, y in ((1.0, 1.0), (-2.0, 0.0)):
        a = math.tanh(w1 * x + b1)
        z = w2 * a + b2
        s = 1 / (1 + math.exp(-z))
        cost += -(y * math.log(s) + (1 - y) * math.log(1 - s))
        dz2 = s - y
        dz1 = w2 * dz2 * (1 - a * a)
        g_w2 += dz2 * a
        g_b2 += dz2
        g_w1 += dz1 * x
        g_b1 += dz1
    params, costs = twolayer.fit(X, Y, lr, 1, 1, backend="numpy")
    assert costs[0] == pytest.approx(cost / m, rel=1e-14)
    assert params["W1"][0, 0] == pytest.approx(w1 - lr * g_w1 / m, rel=1e-14)
    assert params["b1"][0, 0] == pytest.approx(b1 - lr * g_b1 / m, abs=1e-15)
    assert params["W2"][0, 0] == pytest.approx(w2 - lr * g_w2 / m, rel=1e-14)
    assert params["b2"][0, 0] == pytest.approx(b2 - lr * g_b2 / m, abs=1e-15)


def _summed_cost(X, Y, theta, layout):
    _, Z2 = _reference.forward(X, theta, layout)
    return float(np.sum(_reference.log_loss_from_logits(Z2, Y)))


@pytest.mark.parametrize(("n_features", "hidden", "n_outputs"), [(1, 1, 1), (3, 4, 2), (5, 7, 3)])
def test_gradients_match_finite_differences(n_features, hidden, n_outputs):
    rng = np.random.default_rng(7)
    n = 11
    X = rng.normal(size=(n_features, n))
    Y = rng.uniform(size=(n_outputs, n))  # soft labels exercise the general formula
    layout = Layout(n_features, hidden, n_outputs)
    theta = initial_parameters(layout, np.dtype(np.float64), 5) + rng.normal(0, 0.1, layout.size)
    grad = np.empty_like(theta)
    _reference.gradient_sums(X, Y, theta, grad, 1)
    h = 1e-6
    for i in range(layout.size):  # every parameter, central differences
        plus, minus = theta.copy(), theta.copy()
        plus[i] += h
        minus[i] -= h
        numeric = (_summed_cost(X, Y, plus, layout) - _summed_cost(X, Y, minus, layout)) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-8), i


def test_stable_cost_equals_tutorial_formula_where_finite():
    rng = np.random.default_rng(0)
    Z2 = rng.uniform(-30, 30, size=(2, 1000))
    Y = rng.uniform(size=Z2.shape)
    s = tutorial.sigmoid(Z2)
    with np.errstate(divide="ignore"):
        textbook = -(Y * np.log(s) + (1 - Y) * np.log(1 - s))
    ours = _reference.log_loss_from_logits(Z2, Y)
    finite = np.isfinite(textbook) & (np.abs(Z2) < 15)  # beyond, 1 - s has lost all digits
    assert finite.sum() > 400
    np.testing.assert_allclose(ours[finite], textbook[finite], rtol=1e-9)


@pytest.mark.parametrize("z", [50.0, 800.0, -50.0, -800.0])
def test_saturated_sigmoid_keeps_cost_finite_and_exact(z):
    Z2 = np.array([[z]])
    for y in (0.0, 1.0, 0.25):
        loss = _reference.log_loss_from_logits(Z2, np.array([[y]]))[0, 0]
        # Exact: loss = softplus(z) - y z; softplus(z) = z + log1p(exp(-z)) for z > 0.
        expected = (max(z, 0) - y * z) + math.log1p(math.exp(-abs(z)))
        assert math.isfinite(loss)
        assert loss == pytest.approx(expected, rel=1e-15)
    if z == -50.0:
        return  # sigmoid(-50) ~ 2e-22 is still representable: the tutorial copes
    # The tutorial's formula cannot do this: log(0) for the saturated side.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        wrong_side = np.array([[0.0 if z > 0 else 1.0]])
        assert not np.isfinite(tutorial.cost(tutorial.sigmoid(Z2), wrong_side))


def test_sigmoid_is_stable_and_exact():
    z = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    with np.errstate(over="ignore"):
        s = _reference.sigmoid(z)
    assert np.all(np.isfinite(s))
    assert s[3] == 0.5
    assert s[0] == 0.0 and s[-1] == 1.0
    assert s[1] == pytest.approx(math.exp(-40.0), rel=1e-15)
    assert s[2] == pytest.approx(1 / (1 + math.e), rel=1e-15)
