"""backprop-lab: learn, check and use backpropagation on tabular data."""

__version__ = "0.1.0"
