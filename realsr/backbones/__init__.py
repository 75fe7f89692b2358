"""Pretrained feature networks that losses and discriminators build on (VGG, in torchvision's
key layout, so its ImageNet weight files load without torchvision). Below :mod:`realsr.archs`
and :mod:`realsr.losses`, which both import them; their descriptors (role ``features``) are
registered in :mod:`realsr.archs.features`."""
