"""Datasets and image sources (no degradation here: that is the ``degradations`` package)."""
