"""The synthetic borrowers' feature names, in a module that imports nothing.

What needs only the names (the tutorial's settings, which the command line reads for
``reproduce --help``) loads no NumPy; :mod:`backprop_lab.data.synthetic` draws the data.
"""

from __future__ import annotations

#: The seven features of a synthetic borrower, in the order of the data's columns.
FEATURES: tuple[str, ...] = (
    "age",
    "annual_income",
    "debt_to_income",
    "credit_history_years",
    "late_payments",
    "home_owner",
    "employment_years",
)
