"""realsr: training and inference for blind real-world super-resolution (Real-ESRGAN style)."""

__version__ = "0.1.0"
