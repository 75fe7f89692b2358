"""Packaging for realsr: the ``realsr`` training library and the ``degradations`` engine."""
import runpy
from pathlib import Path

from setuptools import find_packages, setup

# The tools' commands come from their registry, read without importing realsr (torch may be absent).
TOOLS = runpy.run_path(str(Path(__file__).parent / "realsr" / "tools" / "registry.py"))["TOOLS"]
CONSOLE_SCRIPTS = ["realsr-train = realsr.startup:train", "realsr-infer = realsr.startup:infer"] + [
    f"{tool.command} = {tool.module}:main" for tool in TOOLS.values()]

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
        "schedulefree>=1.2",
        "pytorch-optimizer>=3.0",
    ],
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
    extras_require={
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        "video": ["av>=12"],
        "ncnn": ["pnnx", "ncnn"],
        "dev": ["pytest>=7.4", "scipy>=1.10", "onnx>=1.15", "onnxruntime>=1.17", "ruff>=0.5", "jsonschema>=4",
                "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "av>=12", "pnnx", "ncnn"],
        "docs": ["mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
    },
    classifiers=[
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Processing",
    ],
)
