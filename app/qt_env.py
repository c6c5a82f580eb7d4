"""Process-wide settings that must be in place before Qt or OpenGL is imported (see shared/RECIPES.md).

Everything GL in the app runs through EGL: pyrender's offscreen renderer and, under X, Qt's own contexts.
OSMesa in a Qt process breaks Qt's viewport once pyrender has run, so EGL is forced for both.
"""

from __future__ import annotations

import os


def prepare_environment() -> None:
    """Set the GL platform variables (unless the user set them) and share GL contexts between widgets."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("QT_XCB_GL_INTEGRATION", "xcb_egl")
    from PySide6.QtCore import QCoreApplication, Qt

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def ensure_application(argv: list[str] | None = None):
    """The QApplication of this process, created (after `prepare_environment`) when there is none yet."""
    prepare_environment()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(["deformlearn", *(argv or [])])
        app.setApplicationName("deformlearn")
        app.setOrganizationName("deformlearn")
        app.setApplicationDisplayName("Deform & Learn Studio")
    return app
