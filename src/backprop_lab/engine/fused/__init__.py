"""The fused engine: Numba kernels and their Python side, in kernels.py."""

from .kernels import (  # noqa: F401  (tests)
    AUTO_MAX_PARAMETERS,
    FusedNetwork,
    FusedTrainer,
    _exp_nonpositive,
    _log1p_unit,
    compile_network,
    fused_loss_and_gradients,
    fused_support,
    get_threads,
    predict_logits,
    prefers_fused,
    set_threads,
)

__all__ = [
    "AUTO_MAX_PARAMETERS",
    "FusedNetwork",
    "FusedTrainer",
    "compile_network",
    "fused_loss_and_gradients",
    "fused_support",
    "get_threads",
    "predict_logits",
    "prefers_fused",
    "set_threads",
]
