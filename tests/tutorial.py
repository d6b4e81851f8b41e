"""The tutorial's code, kept as an independent oracle: one copy, shipped in the package
for `twolayer bench` (twolayer/_tutorial.py); nothing in the package trains with it."""

from twolayer._tutorial import (  # noqa: F401
    back_propagation,
    cost,
    fit,
    forward_propagation,
    set_parameters,
    sigmoid,
    update_parameters,
)
