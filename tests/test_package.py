"""The package installs as deformlearn.core/app, the CLI answers, and core never imports Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from deformlearn.core.cli.parser import COMMANDS

CORE = Path(__file__).resolve().parents[1] / "core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "deformlearn.app")


def test_core_never_imports_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN)]
    assert offenders == []


def test_version_and_help(capsys) -> None:
    out = subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("deformlearn ")
    out = subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout
