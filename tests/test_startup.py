"""The entry points' fast start: imports with the garbage collector paused, then frozen."""
import gc
import subprocess
import sys
from pathlib import Path

from realsr.startup import quick_import

ROOT = Path(__file__).resolve().parents[1]


def test_quick_import_pauses_the_collector_and_restores_it():
    frozen = gc.get_freeze_count()
    try:
        module = quick_import("json.tool")  # any module not yet imported by the tests is fine
        assert module.__name__ == "json.tool" and gc.isenabled()
        assert gc.get_freeze_count() >= frozen
        gc.disable()
        quick_import("json")
        assert not gc.isenabled()  # a collector the caller had off stays off
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_scripts_start_through_it():
    for script, text in (("inference.py", "Upscale"), ("train.py", "options YAML")):
        out = subprocess.run([sys.executable, str(ROOT / script), "-h"], capture_output=True, text=True, cwd=ROOT,
                             timeout=120)
        assert out.returncode == 0 and text in out.stdout, out.stderr
