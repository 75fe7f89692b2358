"""Descriptors of the pretrained feature networks (:mod:`realsr.backbones`), so they are built and
recognised through the same registry as the generators and discriminators."""
from __future__ import annotations

from ..backbones.vgg import VGGFeatureExtractor
from .descriptor import Architecture

VGG_ARCH = Architecture("VGGFeatureExtractor", VGGFeatureExtractor, role="features")
