"""fit's keyword-only options: callback, verbose, tol / n_iter_no_change, validation_data."""

import io

import numpy as np
import pytest

import tutorial
import twolayer
from support import assert_params_close
from twolayer.datasets import make_moons

BACKENDS = twolayer.available_backends()


def _tutorial_run(X, Y, learning_rate, hidden_size, n, X_val=None, Y_val=None):
    """The tutorial's loop, also returning the parameters and validation cost of every step."""
    params = tutorial.set_parameters(X, Y, hidden_size)
    history, costs, val_costs = [params], [], []
    for _ in range(n):
        if X_val is not None:
            val_costs.append(
                float(tutorial.cost(tutorial.forward_propagation(X_val, params)[0], Y_val))
            )
        y, cache = tutorial.forward_propagation(X, params)
        costs.append(float(tutorial.cost(y, Y)))
        params = tutorial.update_parameters(
            tutorial.back_propagation(X, Y, params, cache), params, learning_rate
        )
        history.append(params)
    if X_val is not None:
        val_costs.append(
            float(tutorial.cost(tutorial.forward_propagation(X_val, params)[0], Y_val))
        )
    return history, np.array(costs), np.array(val_costs)


def _expected_stop(values, tol, patience):
    """First index where `patience` consecutive values failed to beat the best by more than tol."""
    best, count = np.inf, 0
    for i, value in enumerate(values):
        count = 0 if value < best - tol else count + 1
        best = min(best, value)
        if count >= patience:
            return i
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_unused_options_change_nothing(backend, moons):
    X, Y = moons
    plain = twolayer.fit(X, Y, 0.3, 5, 500, backend=backend)
    explicit = twolayer.fit(
        X, Y, 0.3, 5, 500, backend=backend, callback=None, verbose=False, tol=None,
        n_iter_no_change=10, validation_data=None,
    )  # fmt: skip
    np.testing.assert_array_equal(plain[1], explicit[1])
    for key in plain[0]:
        np.testing.assert_array_equal(plain[0][key], explicit[0][key])


@pytest.mark.parametrize("backend", BACKENDS)
def test_callback_sees_progress_and_can_stop(backend, moons):
    X, Y = moons
    seen = []

    def callback(iteration, cost, params):
        seen.append((iteration, cost, {k: v.copy() for k, v in params.items()}))
        return iteration >= 3000

    params, costs = twolayer.fit(X, Y, 0.3, 5, 10**7, backend=backend, callback=callback)
    iterations = [s[0] for s in seen]
    assert iterations == sorted(iterations) and iterations[0] >= 1
    assert iterations[-1] >= 3000 and all(i < 3000 for i in iterations[:-1])
    assert costs.shape == (iterations[-1],)  # stopped right after the callback said so
    for iteration, cost, _ in seen:
        assert cost == costs[iteration - 1]
    # The params handed over are those after `iteration` updates, and so is the result.
    again, again_costs = twolayer.fit(X, Y, 0.3, 5, iterations[-1], backend=backend)
    np.testing.assert_array_equal(again_costs, costs)
    for key in params:
        np.testing.assert_array_equal(params[key], again[key])
        np.testing.assert_array_equal(seen[-1][2][key], again[key])


def test_callback_must_be_callable(moons):
    X, Y = moons
    with pytest.raises(TypeError, match="callback"):
        twolayer.fit(X, Y, 0.3, 5, 10, callback="print")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tol_stops_where_the_rule_says_and_returns_the_best_parameters(backend, moons):
    X, Y = moons
    tol, patience = 2e-6, 7
    params, costs = twolayer.fit(
        X, Y, 0.3, 5, 20000, backend=backend, tol=tol, n_iter_no_change=patience
    )
    _, full = twolayer.fit(X, Y, 0.3, 5, 20000, backend=backend)
    stop = _expected_stop(full, tol, patience)
    assert stop is not None and 100 < stop < 20000
    assert costs.shape == (stop + 1,)
    np.testing.assert_array_equal(costs, full[: stop + 1])
    best = int(np.argmin(costs))
    # The parameters whose cost is costs[best]: those after `best` updates, bit for bit.
    expected, _ = twolayer.fit(X, Y, 0.3, 5, best, backend=backend)
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key])


def test_tol_result_does_not_depend_on_the_chunking(moons, monkeypatch):
    from twolayer import _training

    X, Y = moons
    reference = twolayer.fit(X, Y, 0.3, 5, 20000, tol=1e-6, n_iter_no_change=5)
    monkeypatch.setattr(_training, "_CHUNK_SECONDS", 1e-5)  # tiny, irregular chunks
    chunked = twolayer.fit(X, Y, 0.3, 5, 20000, tol=1e-6, n_iter_no_change=5)
    np.testing.assert_array_equal(reference[1], chunked[1])
    for key in reference[0]:
        np.testing.assert_array_equal(reference[0][key], chunked[0][key])


def test_tol_on_an_oscillating_run_keeps_the_lowest_cost(moons):
    X, Y = moons
    # A large learning rate makes the cost jump around; the best one is not the last one.
    params, costs = twolayer.fit(X, Y, 8.0, 5, 3000, backend="numpy", tol=0.0, n_iter_no_change=3)
    best = int(np.argmin(costs))
    assert best < costs.size - 1
    expected, _ = twolayer.fit(X, Y, 8.0, 5, best, backend="numpy")
    assert_params_close(params, expected, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_early_stopping_against_the_tutorial(backend):
    # Few noisy samples and many hidden units: the validation cost turns up (overfitting)
    # while the training cost keeps falling smoothly.
    X, Y = make_moons(n_samples=60, noise=0.4, seed=4)
    X_val, Y_val = make_moons(n_samples=300, noise=0.4, seed=104)
    lr, hidden, n, patience = 0.5, 20, 3000, 25
    params, costs = twolayer.fit(
        X, Y, lr, hidden, n, backend=backend, validation_data=(X_val, Y_val),
        n_iter_no_change=patience,
    )  # fmt: skip
    history, full_costs, val_costs = _tutorial_run(X, Y, lr, hidden, n, X_val, Y_val)
    # val_costs[k] is the validation cost after k updates; the rule looks at k >= 1.
    stop = _expected_stop(val_costs, 0.0, patience)
    assert stop is not None and stop < n, "the run must overfit for this test to mean anything"
    assert costs.shape == (stop,)
    np.testing.assert_allclose(costs, full_costs[:stop], rtol=1e-9)
    best = int(np.argmin(val_costs[: stop + 1]))
    assert 0 < best < stop
    assert np.all(np.diff(full_costs[: stop + 1]) < 0)  # training alone would go on
    assert_params_close(params, history[best], 1e-8)


def test_validation_data_is_checked(moons):
    X, Y = moons
    with pytest.raises(ValueError, match="validation_data X_val has 3 features"):
        twolayer.fit(X, Y, 0.3, 5, 10, validation_data=(np.ones((3, 4)), np.ones((1, 4))))
    with pytest.raises(ValueError, match="validation_data"):
        twolayer.fit(X, Y, 0.3, 5, 10, validation_data=(X, Y * 2))
    with pytest.raises(TypeError, match="validation_data"):
        twolayer.fit(X, Y, 0.3, 5, 10, validation_data=X)
    with pytest.raises(ValueError, match="validation_data X_val contains NaN"):
        twolayer.fit(X, Y, 0.3, 5, 10, validation_data=(X * np.nan, Y))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tol": -1.0}, ValueError, "tol"),
        ({"tol": float("nan")}, ValueError, "tol"),
        ({"tol": "small"}, TypeError, "tol"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change"),
        ({"n_iter_no_change": 2.5}, TypeError, "n_iter_no_change"),
        ({"verbose": "yes"}, TypeError, "verbose"),
    ],
)
def test_bad_option_values(kwargs, error, match, moons):
    X, Y = moons
    with pytest.raises(error, match=match):
        twolayer.fit(X, Y, 0.3, 5, 10, **kwargs)


def test_verbose_without_a_terminal_prints_plain_lines(moons, capsys):
    X, Y = moons
    _, costs = twolayer.fit(X, Y, 0.3, 5, 700, verbose=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    assert (
        err.strip().splitlines()[-1].startswith("done: 700 iterations in ")
        and f"last cost {costs[-1]:.6g}" in err
    )


def test_verbose_plain_lines_about_once_a_second(monkeypatch):
    from twolayer import _progress

    clock = iter(np.arange(0.0, 100.0, 0.4))
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: float(next(clock)))
    stream = io.StringIO()
    progress = _progress.Progress(1000, stream)
    for done in range(100, 1001, 100):
        progress.update(done, 0.5)
    progress.close(1000, 0.25, None)
    lines = stream.getvalue().splitlines()
    # 10 updates 0.4 s apart: a line at most once a second, then the summary.
    assert 2 <= len(lines) - 1 <= 4
    assert lines[0].startswith("iteration ") and "it/s" in lines[0] and "s left" in lines[0]
    assert lines[-1].startswith("done: 1000 iterations in ")


def test_terminal_bar_is_redrawn_at_most_every_50_ms(monkeypatch):
    from twolayer import _progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = iter(np.arange(0.0, 100.0, 0.01))
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: float(next(clock)))
    stream = Terminal()
    progress = _progress.Progress(100, stream)
    for done in range(1, 101):  # one update every 10 ms, like single-iteration chunks
        progress.update(done, 0.5)
    draws = stream.getvalue().count("\r[")
    assert 15 <= draws <= 25
    assert "[####################] iteration 100/100" in stream.getvalue()


def test_verbose_on_a_terminal_draws_a_bar(moons, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    X, Y = moons
    twolayer.fit(X, Y, 0.3, 5, 3000, verbose=True, tol=1e-3, n_iter_no_change=5)
    out = stream.getvalue()
    assert out.startswith("\r[")
    assert "it/s" in out and "cost" in out
    assert out.rstrip().splitlines()[-1].startswith("done: ")
    assert "stopped early (tol)" in out
