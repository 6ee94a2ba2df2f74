"""Training: the loop (reference and fused engines), History, and the gradient check."""
