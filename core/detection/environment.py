"""The pose detector's own Python environment: where it lives, how it is installed, how to reach it.

The detector is MediaPipe's BlazePose (pose detector + "full" landmark model), whose model files ship inside
the `mediapipe==0.10.21` wheel, so nothing downloads when it runs. That release pins numpy < 2 (and asks for
jax, opencv-contrib-python, sounddevice) against this project's numpy 2 and opencv, so it never enters the
project's environment: `deformlearn detector install` makes a separate virtual environment with mediapipe
(installed without its declared extras, which the pose solution does not import) and the few packages the
pose solution does import, and the project drives it as a subprocess (core.detection.mediapipe_worker).

Location: $DEFORMLEARN_DETECTOR_ENV, else $XDG_DATA_HOME/deformlearn/detector-env (XDG_DATA_HOME defaults
to ~/.local/share).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MEDIAPIPE = "mediapipe==0.10.21"
#: What mediapipe's pose solution imports (matplotlib through its drawing helpers), pinned to what works
#: with that release; installed with mediapipe itself taken --no-deps.
RUNTIME_PACKAGES = ("numpy<2", "opencv-python-headless<4.12", "protobuf>=4.25.3,<5", "absl-py", "attrs",
                    "flatbuffers>=2.0", "matplotlib")
#: Python versions mediapipe 0.10.21 has wheels for.
SUPPORTED_PYTHONS = ((3, 9), (3, 10), (3, 11), (3, 12))
INSTALL_HINT = ("install it with `deformlearn detector install` (downloads mediapipe 0.10.21 and its runtime from PyPI, "
                "about 120 MB; 410 MB on disk)")


class DetectorNotInstalled(RuntimeError):
    """The detector environment is missing or broken; the message says where it looked and how to install it."""


def detector_env_dir() -> Path:
    """The folder of the detector's virtual environment (module docstring)."""
    if os.environ.get("DEFORMLEARN_DETECTOR_ENV"):
        return Path(os.environ["DEFORMLEARN_DETECTOR_ENV"]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "deformlearn" / "detector-env"


def _env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def detector_python(env: Path | None = None) -> Path:
    """The detector environment's Python; DetectorNotInstalled (saying how to install it) when it is absent."""
    env = detector_env_dir() if env is None else env
    python = _env_python(env)
    if not python.is_file():
        raise DetectorNotInstalled(f"the pose detector is not installed (no environment at {env}); {INSTALL_HINT}")
    return python


def install_detector(env: Path | None = None, python: str | None = None, log=print) -> Path:
    """Create the detector environment at `env` with `python` (default: this interpreter) and install
    mediapipe into it from PyPI; returns the environment's Python. RuntimeError naming the failed step."""
    env = detector_env_dir() if env is None else env
    base = python or sys.executable
    version = subprocess.run([base, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                             capture_output=True, text=True, check=True).stdout.split()
    if tuple(map(int, version)) not in SUPPORTED_PYTHONS:
        raise RuntimeError(f"{base} is Python {'.'.join(version)}; mediapipe 0.10.21 needs Python 3.9 to 3.12 "
                           "(give one with --python PATH)")
    steps = [
        [base, "-m", "venv", str(env)],
        [str(_env_python(env)), "-m", "pip", "install", "--quiet", "--no-deps", MEDIAPIPE],
        [str(_env_python(env)), "-m", "pip", "install", "--quiet", *RUNTIME_PACKAGES],
    ]
    for step in steps:
        log(" ".join(step))
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"detector install failed at `{' '.join(step)}`:\n{done.stderr.strip()[-2000:]}")
    return _env_python(env)
