"""Errors shown as dialogs that say what went wrong and what to do, never as a traceback."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("deformlearn.app")

#: Exception type name -> advice appended to the dialog.
_ADVICE = {
    "FileNotFoundError": "Check that the file or folder exists and that you chose the right one.",
    "PermissionError": "Check that you may read and write that location.",
    "TemplateError": "Choose another body model in Settings, or reinstall deformlearn.",
    "ModuleNotFoundError": "This feature needs a part of the engine that is not installed in this build.",
    "MemoryError": "Fit fewer people at once, or close other programs.",
}
_DEFAULT_ADVICE = "The project was left as it was. Try again, or report this with the log file."

#: Set by tests: instead of a modal dialog, errors are recorded here.
captured: list[tuple[str, str]] | None = None


def describe(exc: BaseException) -> tuple[str, str]:
    """(what went wrong, what to do) for an exception, in plain words."""
    what = str(exc) or type(exc).__name__
    for cls in type(exc).__mro__:
        if cls.__name__ in _ADVICE:
            return what, _ADVICE[cls.__name__]
    return what, _DEFAULT_ADVICE


def show_error(parent: QWidget | None, title: str, exc_or_text: BaseException | str, advice: str = "") -> None:
    """Show a modal error dialog (or record it when `captured` is a list, as tests do); the traceback is logged."""
    if isinstance(exc_or_text, BaseException):
        what, default_advice = describe(exc_or_text)
        log.error("%s: %s", title, "".join(traceback.format_exception(exc_or_text)))
    else:
        what, default_advice = exc_or_text, _DEFAULT_ADVICE
    advice = advice or default_advice
    if captured is not None:
        captured.append((title, f"{what}\n{advice}"))
        return
    box = QMessageBox(QMessageBox.Icon.Warning, title, what, QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(advice)
    box.exec()


def install_excepthook() -> None:
    """Route uncaught exceptions in Qt slots to an error dialog instead of a traceback on the terminal."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        exc.__traceback__ = tb
        show_error(QApplication.activeWindow(), "Something went wrong", exc)

    sys.excepthook = hook
