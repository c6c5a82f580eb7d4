"""Settings ▸ Preferences: body model (built-in, or SMPL folder + UV_Processed.mat), device, fit defaults."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from deformlearn.app.settings import AppSettings, smpl_problem


def _path_row(edit: QLineEdit, pick) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(pick)
    lay.addWidget(button)
    return row


class SettingsDialog(QDialog):
    """Edits an AppSettings; `apply()` writes the fields back (the caller saves them). Choices are checked as
    they are made: the problem shows under the fields and OK stays disabled until it is fixed."""

    def __init__(self, settings: AppSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.body_model = QComboBox()
        self.body_model.addItems(["builtin", "smpl"])
        self.body_model.setCurrentText(settings.body_model)
        self.smpl_folder = QLineEdit(settings.smpl_folder)
        self.uv_mat = QLineEdit(settings.uv_processed_mat)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(settings.device)
        form = QFormLayout(self)
        form.addRow("Body model", self.body_model)
        form.addRow("SMPL model folder", _path_row(self.smpl_folder, self._pick_smpl))
        form.addRow("UV_Processed.mat", _path_row(self.uv_mat, self._pick_uv))
        form.addRow("Device", self.device)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e53935;")
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        form.addRow(buttons)
        self.body_model.currentTextChanged.connect(lambda _: self._check())
        self.smpl_folder.textChanged.connect(lambda _: self._check())
        self.uv_mat.textChanged.connect(lambda _: self._check())
        self._check()

    def _pick_smpl(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "SMPL model folder", self.smpl_folder.text())
        if folder:
            self.smpl_folder.setText(folder)

    def _pick_uv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "DensePose UV_Processed.mat", self.uv_mat.text(), "MAT (*.mat)")
        if path:
            self.uv_mat.setText(path)

    def validate(self) -> str:
        """'' when the choices are usable, else what is wrong (an SMPL folder must hold a model file)."""
        if self.body_model.currentText() == "smpl":
            return smpl_problem(self.smpl_folder.text(), self.uv_mat.text())
        return ""

    def _check(self) -> None:
        problem = self.validate()
        self.problem.setText(problem)
        self.ok_button.setEnabled(not problem)

    def accept(self) -> None:
        if not self.validate():
            super().accept()

    def apply(self) -> None:
        self.settings.body_model = self.body_model.currentText()
        self.settings.smpl_folder = self.smpl_folder.text()
        self.settings.uv_processed_mat = self.uv_mat.text()
        self.settings.device = self.device.currentText()


def open_settings(win) -> None:
    dialog = SettingsDialog(win.settings, win)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    dialog.apply()
    win.settings.save(win.qsettings)
    win.registration.device.setCurrentText(win.settings.device)
