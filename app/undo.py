"""One undo stack for every user action: review decisions (single or bulk) and annotation edits.

Each action is done first by the caller (so a failure is an ordinary exception that becomes a dialog and
pushes nothing), then pushed as a command whose first `redo` is skipped. Undo and redo write the project at
once and show the person they changed, so Ctrl+Z never changes someone out of sight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QUndoCommand, QUndoStack

from deformlearn.app.errors import show_error


@dataclass(frozen=True)
class AnnotationState:
    """A person's editable annotation: keypoints (17, 3) image pixels + visibility, dense points xy (N, 2)
    image pixels, part (N,) 1..24, uv (N, 2) chart coordinates, vertex (N,) template vertex (-1: none)."""

    keypoints: np.ndarray
    dense_xy: np.ndarray
    dense_part: np.ndarray
    dense_uv: np.ndarray
    dense_vertex: np.ndarray

    @classmethod
    def of_scene(cls, scene) -> AnnotationState:
        """A copy of what a PersonScene shows now (later edits of the scene do not change it)."""
        return cls(scene.keypoints.copy(), scene.dense_xy.copy(), scene.dense_part.copy(), scene.dense_uv.copy(),
                   scene.dense_vertex.copy())


class DoneCommand(QUndoCommand):
    """A command pushed after its action already ran: the stack's first `redo` call is skipped.

    `apply(forward)` re-does (True) or undoes (False) the action; an exception becomes an error dialog
    (the stack has moved on either way, and the project holds the last write that succeeded)."""

    def __init__(self, text: str, apply: Callable[[bool], None], parent_widget=None) -> None:
        super().__init__(text)
        self._apply = apply
        self._parent_widget = parent_widget
        self._pushed = False

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        self._run(True)

    def undo(self) -> None:
        self._run(False)

    def _run(self, forward: bool) -> None:
        try:
            self._apply(forward)
        except Exception as exc:  # a failed undo is a dialog, never a lost traceback inside Qt
            show_error(self._parent_widget, f"{'Redo' if forward else 'Undo'} {self.text()} failed", exc)


def push_done(stack: QUndoStack, text: str, apply: Callable[[bool], None], parent_widget=None) -> None:
    """Record an action that already ran; `apply(True)` redoes it and `apply(False)` undoes it."""
    stack.push(DoneCommand(text, apply, parent_widget))
