"""Review decisions with undo: every decision is written to the project at once (Project.set_review)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

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
    """Accept / reject / undo against one project. Emits `changed(list_of_pids)` after each write."""

    changed = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self._undo: list[list[Decision]] = []

    def set_project(self, project) -> None:
        self.project = project
        self._undo.clear()

    def decide(self, pids: list[int], status: str, reason: str = "") -> list[Decision]:
        """Set `status` ("accepted" or "rejected") for people, as one undoable step, in one transaction."""
        if self.project is None or not pids:
            return []
        decisions = []
        with self.project.transaction():
            for pid in pids:
                before = self.project.person(pid).status
                self.project.set_review(pid, status, reason)
                decisions.append(Decision(pid, before, status, reason))
        self._undo.append(decisions)
        self.changed.emit([d.pid for d in decisions])
        return decisions

    def accept(self, pid: int) -> list[Decision]:
        return self.decide([pid], "accepted")

    def reject(self, pid: int, reason: str = "") -> list[Decision]:
        return self.decide([pid], "rejected", reason)

    def undo(self) -> list[Decision]:
        """Revert the last step (a single decision or a whole bulk action); the history keeps both entries."""
        if self.project is None or not self._undo:
            return []
        step = self._undo.pop()
        with self.project.transaction():
            for d in reversed(step):
                self.project.set_review(d.pid, _review_status(d.before), "undo")
        self.changed.emit([d.pid for d in step])
        return step

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
