"""train_epoch's solver codes, for every backend (the ``solver`` argument of train_epoch).

The C kernels define them in src/twolayer/_optimizer_impl.h (enum tl_solver) and the
compiled module exports them as SGD, NESTEROV, ADAM; tests/test_epochs.py checks that
every build agrees with these. The reference and the Numba mirror take them from here.
"""

from __future__ import annotations

SGD, NESTEROV, ADAM = 0, 1, 2

# fit's ``solver`` names; sgd with nesterovs_momentum runs NESTEROV.
SOLVERS = {"sgd": SGD, "adam": ADAM}
