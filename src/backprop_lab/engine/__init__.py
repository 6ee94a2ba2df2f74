"""Training: the loop, the engine interface, its engines (reference, fused), the gradient check."""
