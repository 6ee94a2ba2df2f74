"""The settings of integrated gradients, in a module that imports nothing.

The command line shows them in ``audit --help`` and ``explain --help``; the computation
(:mod:`backprop_lab.responsible.integrated`, which loads NumPy and SciPy) is imported
only when a command runs.
"""

from __future__ import annotations

#: Default quadrature steps of integrated gradients, and the completeness target: the
#: steps are doubled, up to DEFAULT_MAX_STEPS, while some row's gap
#: |sum_j a_j - (f(x) - f(x'))| exceeds DEFAULT_TOLERANCE.
DEFAULT_STEPS = 64
DEFAULT_TOLERANCE = 1e-3
DEFAULT_MAX_STEPS = 4096
