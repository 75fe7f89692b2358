"""The tools registry: the one hand-written list of command-line tools (pure data, stdlib only).

A tool is one module ``realsr/tools/<name>.py`` with ``build_parser()`` and ``main(argv)``, one
shim ``tools/<name>.py``, and one line here. ``setup.py`` reads this file without importing
``realsr`` (it runs it with :func:`runpy.run_path`) to make the ``realsr-*`` console commands; the
tools table of ``docs/tools.md`` and the tests read :data:`TOOLS`.
"""
from __future__ import annotations

from typing import NamedTuple


class Tool(NamedTuple):
    """One command-line tool: its module, its installed command and what it does (one line)."""

    module: str
    command: str
    description: str


def tool_registry(*entries: tuple[str, Tool]) -> dict[str, Tool]:
    """``{name: Tool}`` from ``(name, Tool)`` pairs; a repeated name or command is an error."""
    tools: dict[str, Tool] = {}
    commands: set[str] = set()
    for name, tool in entries:
        if name in tools:
            raise ValueError(f"tool {name!r} is registered twice")
        if tool.command in commands:
            raise ValueError(f"command {tool.command!r} is registered twice (tool {name!r})")
        tools[name] = tool
        commands.add(tool.command)
    return tools


TOOLS: dict[str, Tool] = tool_registry(
    ("degrade_preview", Tool("realsr.tools.degrade_preview", "realsr-preview",
                             "contact sheet of degraded samples of one image, with their parameters")),
    ("prepare_dataset", Tool("realsr.tools.prepare_dataset", "realsr-prepare",
                             "HR folders to sub-images (and multiscale copies) plus a meta_info file, resumable")),
    ("extract_subimages", Tool("realsr.tools.extract_subimages", "realsr-extract-subimages",
                               "crop HR images into overlapping sub-images")),
    ("generate_multiscale", Tool("realsr.tools.generate_multiscale", "realsr-generate-multiscale",
                                 "downscaled copies of an HR set (Real-ESRGAN's DF2K recipe)")),
    ("generate_meta_info", Tool("realsr.tools.generate_meta_info", "realsr-generate-meta-info",
                                "meta_info file of GT images or GT/LQ pairs")),
    ("create_lmdb", Tool("realsr.tools.create_lmdb", "realsr-create-lmdb",
                         "pack an image folder into a BasicSR LMDB")),
    ("evaluate", Tool("realsr.tools.evaluate", "realsr-evaluate",
                      "PSNR / SSIM / LPIPS / DISTS / NIQE of SR images, a weight file, or every checkpoint of a run")),
    ("export_onnx", Tool("realsr.tools.export_onnx", "realsr-export-onnx",
                         "export a generator to ONNX with dynamic height and width")),
    ("export_ncnn", Tool("realsr.tools.export_ncnn", "realsr-export-ncnn",
                         "export a generator to ncnn .param/.bin for realesrgan-ncnn-vulkan")),
    ("interpolate_models", Tool("realsr.tools.interpolate_models", "realsr-interpolate",
                                "(1 - alpha) A + alpha B for two checkpoints of one architecture")),
    ("make_benchmark", Tool("realsr.tools.make_benchmark", "realsr-make-benchmark",
                            "benchmark LR sets (BI / BD / DN) from HR images")),
    ("degradation_sweep", Tool("realsr.tools.degradation_sweep", "realsr-degradation-sweep",
                               "contact sheet of an SRMD / UDVD model over blur and noise levels")),
    ("zssr", Tool("realsr.tools.zssr", "realsr-zssr",
                  "zero-shot super-resolution: train a small network on the image itself")),
    ("estimate_kernel", Tool("realsr.tools.estimate_kernel", "realsr-estimate-kernel",
                             "the blur kernel of a photo estimated from the photo alone (spectral fit or KernelGAN)")),
)
