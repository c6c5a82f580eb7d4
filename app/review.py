"""Review decisions: every decision is written to the project at once (Project.set_review) and pushed as one
step of the window's undo stack (app/undo.py), a bulk action as a single step."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from deformlearn.app.undo import push_done

PAGE = 1000


@dataclass(frozen=True)
class Decision:
    """One person's review change: `before` and `after` are person statuses (unreviewed/accepted/rejected)."""

    pid: int
    before: str
    after: str
    reason: str = ""


def _review_status(person_status: str) -> str:
    """Person status -> the set_review status that restores it."""
    return "cleared" if person_status == "unreviewed" else person_status


class ReviewController(QObject):
    """Accept / reject against one project, each decision a step of `stack`. Emits `changed(list_of_pids)` after
    each write (decision, undo or redo) and `focus(pid)` when an undo or redo changed a person."""

    changed = Signal(list)
    focus = Signal(int)

    def __init__(self, stack: QUndoStack, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self.stack = stack

    def set_project(self, project) -> None:
        self.project = project

    def decide(self, pids: list[int], status: str, reason: str = "") -> list[Decision]:
        """Set `status` ("accepted" or "rejected") for people, as one undoable step, in one transaction."""
        if self.project is None or not pids:
            return []
        decisions = []
        project = self.project
        with project.transaction():
            for pid in pids:
                before = project.person(pid).status
                project.set_review(pid, status, reason)
                decisions.append(Decision(pid, before, status, reason))
        self.changed.emit([d.pid for d in decisions])
        what = f"{status[:-2]} {len(pids)} people" if len(pids) > 1 else f"{status[:-2]} person {pids[0]}"
        push_done(self.stack, what, lambda forward: self._replay(project, decisions, forward), self.parent())
        return decisions

    def accept(self, pid: int) -> list[Decision]:
        return self.decide([pid], "accepted")

    def reject(self, pid: int, reason: str = "") -> list[Decision]:
        return self.decide([pid], "rejected", reason)

    def _replay(self, project, step: list[Decision], forward: bool) -> None:
        """Redo (forward) or revert one step; the review history keeps every entry. A step of a project that
        is no longer open is not replayed (the stack is cleared when another project opens)."""
        if project is not self.project:
            raise RuntimeError("That decision belongs to a project that is no longer open.")
        with project.transaction():
            for d in (step if forward else reversed(step)):
                if forward:
                    project.set_review(d.pid, _review_status(d.after), d.reason)
                else:
                    project.set_review(d.pid, _review_status(d.before), "undo")
        self.changed.emit([d.pid for d in step])
        self.focus.emit(step[0].pid)

    def people_over(self, threshold: float) -> list[int]:
        """Ids of fitted people whose error is above `threshold`, read page by page (largest first)."""
        out, offset = [], 0
        while True:
            rows = self.project.list_persons(offset=offset, limit=PAGE, order_by="error", descending=True)
            over = [r.id for r in rows if r.fit_error is not None and r.fit_error > threshold]
            out += over
            if len(rows) < PAGE or len(over) < len([r for r in rows if r.fit_error is not None]):
                return out
            offset += PAGE

    def reject_over(self, threshold: float) -> list[Decision]:
        """Reject every fitted person whose error is above `threshold` (one undoable step)."""
        if self.project is None:
            return []
        return self.decide(self.people_over(threshold), "rejected", f"error > {threshold:g}")
