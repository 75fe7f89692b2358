"""Packaging for realsr: the ``realsr`` training library and the ``degradations`` engine."""
from setuptools import find_packages, setup

setup(
    name="realsr",
    version="0.1.0",
    description="Training pipeline for blind real-world super-resolution (Real-ESRGAN style)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["realsr", "realsr.*", "degradations", "degradations.*"]),
    install_requires=[
        "torch>=2.1,<3",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "safetensors>=0.4",
        "lmdb>=1.4",
        "tensorboard>=2.12",
        "pydantic>=2.5,<3",
    ],
    entry_points={"console_scripts": [
        "realsr-train = realsr.training.cli:main",
        "realsr-infer = realsr.inference.cli:main",
        "realsr-preview = realsr.tools.degrade_preview:main",
        "realsr-prepare = realsr.tools.prepare_dataset:main",
        "realsr-extract-subimages = realsr.tools.extract_subimages:main",
        "realsr-generate-multiscale = realsr.tools.generate_multiscale:main",
        "realsr-generate-meta-info = realsr.tools.generate_meta_info:main",
        "realsr-create-lmdb = realsr.tools.create_lmdb:main",
        "realsr-evaluate = realsr.tools.evaluate:main",
        "realsr-export-onnx = realsr.tools.export_onnx:main",
        "realsr-interpolate = realsr.tools.interpolate_models:main",
        "realsr-make-benchmark = realsr.tools.make_benchmark:main",
        "realsr-degradation-sweep = realsr.tools.degradation_sweep:main",
    ]},
    extras_require={
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        "dev": ["pytest>=7.4", "scipy>=1.10", "onnx>=1.15", "onnxruntime>=1.17", "ruff>=0.5", "jsonschema>=4"],
    },
    classifiers=[
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
    ],
)
