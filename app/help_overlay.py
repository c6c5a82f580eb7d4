"""Help for a new user: an overlay over the window with what to do first and every shortcut (F1 or ?), and
tooltips on the registration fields that say what each loss term does.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

#: Registration panel field -> what it does (the paper's eq. 7 terms; appendix section 3).
WEIGHT_HELP = {
    "steps": "Adam steps per person. The paper uses 300 from the T-pose in round 1, 100 from the regressor's "
             "prediction later.",
    "lr": "Adam learning rate on the registration parameters (pose, segment scales, camera); the paper uses 0.1.",
    "w_dense": "w_dense × L_dense: squared distance between each DensePose image point and its matched template "
               "vertex, projected. The main data term (paper 1000).",
    "w_kp": "w_KP × L_KP: squared distance of the 2D keypoints to the body's projected keypoints (plus the cGAN's "
            "depths where used). Keeps limbs on the right side (paper 1).",
    "w_scale": "w_scale × L_scale: adjacent body segments must scale alike, so limbs do not grow or shrink alone "
               "(paper 10; 100 in the stiff first round).",
    "w_joint": "w_joint × L_angle: small joint rotations, and a penalty on bending knees and elbows backwards "
               "(paper 0.001; 1 in the stiff first round).",
    "w_det": "w_det × L_det = exp(-det R): keeps the camera rotation a proper rotation, never a mirror "
             "(paper 1).",
    "orientations": "How many starting orientations about the vertical axis are tried per person; the best fit "
                    "is kept. More is safer for people seen from behind, and slower.",
    "device": "Where the fit runs: auto uses CUDA when torch sees a GPU, else the CPU.",
}

GETTING_STARTED = (
    "Pick a person in the People list (or the Gallery tab): the image shows its DensePose points and keypoints,"
    " the 3D view its fit.",
    "Fit it in the Registration tab (Fit selected), or everyone at once (Fit all); watch it converge in 3D.",
    "Review: A accepts, R rejects, J / K move on. Every action undoes with Ctrl+Z.",
    "Train: the Training tab runs deform-and-learn rounds; Project ▸ Export fits writes meshes and parameters.",
)


def add_weight_tooltips(panel) -> None:
    """Give each registration field of `panel` (attributes named as in WEIGHT_HELP) its tooltip."""
    for name, text in WEIGHT_HELP.items():
        widget = getattr(panel, name, None)
        if widget is not None:
            widget.setToolTip(text)


def shortcut_rows(actions: dict) -> list[tuple[str, str]]:
    """(keys, what) of every named action that has a shortcut (the help itself left out), menu order kept."""
    rows = []
    for name, act in actions.items():
        if name == "help":
            continue
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts())
        if keys:
            rows.append((keys, act.text().replace("&", "")))
    return rows


class HelpOverlay(QWidget):
    """A dark translucent sheet over the whole window; any key or click closes it."""

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setStyleSheet("color: white; font-size: 13px; background: rgb(40, 44, 56); padding: 18px;"
                                "border: 1px solid rgb(90, 100, 130); border-radius: 6px;")
        self.text.setWordWrap(True)
        self.text.setMaximumWidth(720)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 0, Qt.AlignmentFlag.AlignCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hide()
        win.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.win and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.win.rect())
        return False

    def html(self) -> str:
        steps = "".join(f"<li>{html.escape(s)}</li>" for s in GETTING_STARTED)
        rows = "".join(f"<tr><td align='right'><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(t)}</td></tr>"
                       for k, t in shortcut_rows(self.win.actions_by_name))
        return (f"<h2>Deform &amp; Learn Studio</h2><p><b>Getting started</b></p><ol>{steps}</ol>"
                f"<p><b>Shortcuts</b></p><table align='center'>{rows}<tr><td align='right'><b>F1, ?</b>&nbsp;&nbsp;</td>"
                "<td>this help</td></tr></table><p><i>Press any key or click to close.</i></p>")

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        self.text.setText(self.html())
        self.setGeometry(self.win.rect())
        self.raise_()
        self.show()
        self.setFocus()

    def paintEvent(self, _event) -> None:
        QPainter(self).fillRect(self.rect(), QColor(10, 10, 14, 225))

    def keyPressEvent(self, _event) -> None:
        self.hide()

    def mousePressEvent(self, _event) -> None:
        self.hide()


def install_help(win, menu) -> HelpOverlay:
    """Help ▸ Shortcuts (F1); "?" also opens it except while typing in a text field."""
    overlay = HelpOverlay(win)
    win.add_action(menu, "help", "&Getting started and shortcuts", overlay.toggle, ["F1"])
    QShortcut(QKeySequence("?"), win, activated=overlay.toggle)
    return overlay
