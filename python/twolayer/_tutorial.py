"""The tutorial's code (../shared/seed): `twolayer bench`'s "tutorial" runner, and the
tests' independent oracle (tests/tutorial.py re-exports it).

Transcribed from the article with one change: ``np.random.seed(3)`` became a
private ``RandomState`` so that neither the bench nor the tests disturb the
global state. Everything else, including the log-based cost that overflows
when the sigmoid saturates, is the article's arithmetic; nothing in the
package uses it to train.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def set_parameters(X, Y, hidden_size, seed=3):
    rs = np.random.RandomState(seed)
    input_size, output_size = X.shape[0], Y.shape[0]
    W1 = rs.randn(hidden_size, input_size) * np.sqrt(2 / input_size)
    b1 = np.zeros((hidden_size, 1))
    W2 = rs.randn(output_size, hidden_size) * np.sqrt(2 / hidden_size)
    b2 = np.zeros((output_size, 1))
    return {"W1": W1, "W2": W2, "b1": b1, "b2": b2}


def forward_propagation(X, params):
    Z1 = np.dot(params["W1"], X) + params["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(params["W2"], A1) + params["b2"]
    y = sigmoid(Z2)
    return y, {"Z1": Z1, "Z2": Z2, "A1": A1, "y": y}


def cost(predict, actual):
    m = actual.shape[1]
    c = -np.sum(np.multiply(np.log(predict), actual) + np.multiply(1 - actual, np.log(1 - predict)))
    return np.squeeze(c / m)


def back_propagation(X, Y, params, cache):
    m = X.shape[1]
    dy = cache["y"] - Y
    dW2 = (1 / m) * np.dot(dy, np.transpose(cache["A1"]))
    db2 = (1 / m) * np.sum(dy, axis=1, keepdims=True)
    dZ1 = np.dot(np.transpose(params["W2"]), dy) * (1 - np.power(cache["A1"], 2))
    dW1 = (1 / m) * np.dot(dZ1, np.transpose(X))
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(gradients, params, learning_rate=1.2):
    return {k: params[k] - learning_rate * gradients["d" + k] for k in ("W1", "b1", "W2", "b2")}


def fit(X, Y, learning_rate, hidden_size, number_of_iterations=5000):
    params = set_parameters(X, Y, hidden_size)
    cost_ = []
    for _ in range(number_of_iterations):
        y, cache = forward_propagation(X, params)
        costit = cost(y, Y)
        gradients = back_propagation(X, Y, params, cache)
        params = update_parameters(gradients, params, learning_rate)
        cost_.append(costit)
    return params, cost_
