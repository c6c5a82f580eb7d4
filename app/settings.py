"""The app's persisted settings (QSettings): body model, device, registration defaults, recent projects."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from deformlearn.core import devices
from deformlearn.core.registration import RegistrationSettings

MAX_RECENT = 8
_ROUND1 = RegistrationSettings.round1()


@dataclass
class RegistrationDefaults:
    """Registration settings the panel starts from: core's round-1 preset (the paper's stiff first round)."""

    steps: int = _ROUND1.steps
    lr: float = _ROUND1.lr
    w_dense: float = _ROUND1.w_dense
    w_kp: float = _ROUND1.w_KP
    w_scale: float = _ROUND1.w_scale
    w_joint: float = _ROUND1.w_joint
    w_det: float = _ROUND1.w_det
    orientations: int = _ROUND1.num_orientations


@dataclass
class AppSettings:
    """Everything the user can set; `load`/`save` go through QSettings so tests can point it at a temp file.

    body_model: "builtin" or "smpl"; smpl_folder and uv_processed_mat are used only for "smpl".
    device: "auto", "cpu" or "cuda".
    """

    body_model: str = "builtin"
    smpl_folder: str = ""
    uv_processed_mat: str = ""
    device: str = "auto"
    registration: RegistrationDefaults = field(default_factory=RegistrationDefaults)
    recent_projects: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, qsettings: QSettings | None = None) -> AppSettings:
        s = qsettings or QSettings()
        out = cls()
        out.body_model = str(s.value("model/body_model", out.body_model))
        out.smpl_folder = str(s.value("model/smpl_folder", ""))
        out.uv_processed_mat = str(s.value("model/uv_processed_mat", ""))
        out.device = str(s.value("compute/device", out.device))
        for f in fields(RegistrationDefaults):
            raw = s.value(f"registration/{f.name}", getattr(out.registration, f.name))
            try:
                setattr(out.registration, f.name, type(getattr(out.registration, f.name))(raw))
            except (TypeError, ValueError):
                pass  # a hand-edited settings file keeps the default
        recent = s.value("projects/recent", [])
        out.recent_projects = [str(p) for p in (recent if isinstance(recent, list) else [recent]) if p]
        return out

    def save(self, qsettings: QSettings | None = None) -> None:
        s = qsettings or QSettings()
        s.setValue("model/body_model", self.body_model)
        s.setValue("model/smpl_folder", self.smpl_folder)
        s.setValue("model/uv_processed_mat", self.uv_processed_mat)
        s.setValue("compute/device", self.device)
        for f in fields(RegistrationDefaults):
            s.setValue(f"registration/{f.name}", getattr(self.registration, f.name))
        s.setValue("projects/recent", list(self.recent_projects))
        s.sync()

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.recent_projects = [p] + [r for r in self.recent_projects if r != p]
        del self.recent_projects[MAX_RECENT:]


def smpl_problem(smpl_folder: str, uv_processed_mat: str) -> str:
    """'' when an SMPL body model can be made from these paths, else what is wrong with which one (checked
    when the setting is made, so a wrong folder never surfaces later as a failed project)."""
    from deformlearn.core.body import find_smpl_file

    if not smpl_folder.strip():
        return "Choose the folder that holds the SMPL model (SMPL_NEUTRAL.pkl or .npz, or smpl/ inside it)."
    folder = Path(smpl_folder).expanduser()
    if not folder.exists():
        return f"{folder}: no such file or folder."
    try:
        find_smpl_file(folder)
    except ValueError as exc:
        return str(exc)
    if uv_processed_mat.strip() and not Path(uv_processed_mat).expanduser().is_file():
        return f"{uv_processed_mat}: UV_Processed.mat was not found at that path."
    return ""


def resolve_device(choice: str) -> str:
    """The panel's device choice as a torch device name ("auto" resolved); a RuntimeError saying what to choose
    when torch cannot use it. Imports torch only when asked (at the start of a fit), so the window opens
    without it."""
    device = devices.resolve_device(choice)
    try:
        devices.check_device(device, what="Device", advice="choose auto or cpu as the device in the Registration panel.")
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    return device
