"""Exports of fits: posed meshes (OBJ, PLY, GLB), rigged glTF, parameter files, SPIN npz."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["common", "exporter", "gltf", "params"],
    submod_attrs={
        "common": ["DEFAULT_FORMATS", "FORMATS", "FRAMES", "FRONTAL"],
        "exporter": [
            "ExportError", "export_fits", "export_params", "export_rigged_gltf", "export_spin_npz", "load_params",
            "pose_fit", "weld"
        ],
        "gltf": ["top_weights"],
    },
)
