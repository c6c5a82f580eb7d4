"""Project ▸ Export fits: one dialog with a clear choice of whom (selected / accepted / every fitted person),
which formats, which frame and where; files are named after the image and the person's index on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from deformlearn.core.export import DEFAULT_FORMATS, FORMATS, FRAMES

#: What each export format writes, for the check boxes' tooltips.
FORMAT_HELP = {
    "obj": "posed mesh, Wavefront OBJ", "ply": "posed mesh, PLY", "glb": "posed mesh, binary glTF",
    "gltf-rigged": "rigged glTF: skeleton, skin weights and the fitted pose (canonical frame)",
    "json": "fit parameters (pose, scales, camera) as JSON", "npz": "fit parameters as NumPy npz",
    "spin": "one spin_train.npz for all exported people (SPIN's training layout)",
}
SCOPES = ("selected", "accepted", "fitted")


def file_stem(label: str, pid: int) -> str:
    """A file-name stem from a person's label ("a.jpg · 3 of 12" -> "a_person3"); "person_<id>" when the
    label says nothing usable."""
    m = re.match(r"^(.*?)\s·\s(\d+) of \d+$", label)
    base, index = (m.group(1), m.group(2)) if m else (label, "")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(base).stem).strip("_.")
    if not base:
        return f"person_{pid:06d}"
    return f"{base}_person{index}" if index else base


def unique_stems(labels: dict[int, str]) -> dict[int, str]:
    """person id -> file stem, made unique by appending the id where two people would share one."""
    stems = {pid: file_stem(label, pid) for pid, label in labels.items()}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {pid: stem if counts[stem] == 1 else f"{stem}_id{pid}" for pid, stem in stems.items()}


class ExportDialog(QDialog):
    """Asks whom, what and where; `people()` / `formats()` / `frame()` / `folder()` read the answer."""

    def __init__(self, project, selected: list[int], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export fits")
        self.project = project
        self.selected = list(selected)
        counts = {"selected": len(self.selected), "accepted": project.count_persons(status="accepted"),
                  "fitted": project.count_persons(fit_status="fitted")}
        texts = {"selected": "the selected person" if counts["selected"] == 1 else "the {} selected people",
                 "accepted": "every accepted person ({})", "fitted": "every fitted person ({}), rejected ones included"}
        self.scope_group = QButtonGroup(self)
        self.scope_buttons: dict[str, QRadioButton] = {}
        scope_box = QVBoxLayout()
        for scope in SCOPES:
            button = QRadioButton(texts[scope].format(f"{counts[scope]:,}"))
            button.setEnabled(counts[scope] > 0)
            self.scope_group.addButton(button)
            self.scope_buttons[scope] = button
            scope_box.addWidget(button)
        first = next((s for s in SCOPES if counts[s] > 0), "selected")
        self.scope_buttons[first].setChecked(True)
        self.format_boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for i, fmt in enumerate(FORMATS):
            box = QCheckBox(fmt)
            box.setChecked(fmt in DEFAULT_FORMATS)
            box.setToolTip(FORMAT_HELP.get(fmt, fmt))
            self.format_boxes[fmt] = box
            grid.addWidget(box, i // 4, i % 4)
        self.frame_box = QComboBox()
        self.frame_box.addItems(FRAMES)
        self.frame_box.setToolTip("image: meshes placed as the camera saw them; canonical: the body upright at "
                                  "the origin")
        self.folder_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #e53935;")
        form = QFormLayout(self)
        form.addRow("People", _wrap(scope_box))
        form.addRow("Formats", _wrap(grid))
        form.addRow("Frame", self.frame_box)
        form.addRow("Folder", _wrap(folder_row))
        form.addRow(QLabel("Files are named after the image and the person's index on it (e.g. im_person3.obj)."))
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export fits to folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def scope(self) -> str:
        return next(s for s, b in self.scope_buttons.items() if b.isChecked())

    def people(self) -> list[int]:
        scope = self.scope()
        if scope == "selected":
            return self.selected
        if scope == "accepted":
            return [int(i) for i in self.project.person_ids(status="accepted")]
        return [int(i) for i in self.project.person_ids(fit_status="fitted")]

    def formats(self) -> list[str]:
        return [f for f, box in self.format_boxes.items() if box.isChecked()]

    def frame(self) -> str:
        return self.frame_box.currentText()

    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def validate(self) -> str:
        """'' when the choice can be exported, else what is missing."""
        if not self.people():
            return "Nobody to export: choose another group of people."
        if not self.formats():
            return "Choose at least one format."
        if not self.folder():
            return "Choose a folder to export to."
        return ""

    def accept(self) -> None:
        problem = self.validate()
        if problem:
            self.problem.setText(problem)
            return
        super().accept()


def _wrap(layout) -> QWidget:
    widget = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    widget.setLayout(layout)
    return widget
