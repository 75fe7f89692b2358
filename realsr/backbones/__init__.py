"""Pretrained feature networks that losses, discriminators and metrics build on (VGG and AlexNet,
in torchvision's key layout, so its ImageNet weight files load without torchvision), and
:mod:`.files`, which finds their weight files (a path, the cache, or a checksummed download).
Below :mod:`realsr.archs` and :mod:`realsr.losses`, which both import them; their descriptors (role ``features``) are
registered in :mod:`realsr.archs.features`."""
