"""The built-in demo project: synthetic people made on first use under the user's data folder.

Made by the core `synth` command (the same one the terminal runs), so the demo shows exactly what the engine
produces; nothing is downloaded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

DEMO_PEOPLE = 48


def user_data_dir() -> Path:
    """Where the app keeps its own data: $DEFORMLEARN_DATA, else the platform's user data folder
    (platformdirs: ~/.local/share/deformlearn on Linux), so the headless demo needs no Qt."""
    env = os.environ.get("DEFORMLEARN_DATA")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("deformlearn", appauthor=False))


def demo_project_dir() -> Path:
    return user_data_dir() / "demo"


def demo_exists() -> bool:
    return (demo_project_dir() / "project.sqlite").is_file()


def synth_command(out: Path, n: int = DEMO_PEOPLE) -> list[str]:
    """argv after the interpreter that makes the demo project with the core synth command."""
    return ["-m", "deformlearn.core.cli", "synth", "--n", str(n), "--out", str(out)]


def python_executable() -> str:
    return sys.executable
