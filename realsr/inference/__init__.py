"""Inference: the model zoo (names, architectures, downloads), tiling, and image formats."""
