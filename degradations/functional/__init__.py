"""Pure batched degradation math: kernels, filtering, resize, noise, JPEG, sharpening.

Every function takes images ``(B, C, H, W)`` float in [0, 1] and per-sample parameter
tensors ``(B,)``, and works on the device of the images. No randomness is drawn here except
noise fields, which come from explicit per-sample seeds.
"""
from .filter import filter2d, separable_filter
from .jpeg import JPEG_FLAVORS, jpeg_opencv, jpeg_torch
from .kernels import FAMILY_CODE, KERNEL_FAMILIES, gaussian_kernel_1d, mixed_kernels, sinc_kernels
from .noise import gaussian_noise, poisson_noise
from .phase import KERNEL_PHASES, blur_decimate, centre_kernel, centre_of_mass, phase_kernel
from .resize import RESIZE_MODES, imresize, matlab_weights, resize
from .sharpen import quantize, usm_sharp

__all__ = [
    "FAMILY_CODE", "JPEG_FLAVORS", "KERNEL_FAMILIES", "KERNEL_PHASES", "RESIZE_MODES",
    "blur_decimate", "centre_kernel", "centre_of_mass", "filter2d", "gaussian_kernel_1d", "gaussian_noise", "jpeg_opencv", "jpeg_torch",
    "imresize", "matlab_weights", "mixed_kernels", "phase_kernel", "poisson_noise", "quantize", "resize",
    "separable_filter", "sinc_kernels", "usm_sharp",
]
