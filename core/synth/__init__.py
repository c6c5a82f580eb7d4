"""Synthetic DensePose-COCO-like people with exact ground truth.

The names below are this subpackage's public face: the app and the other subpackages use these. They load
on first use (lazy_loader), so importing the package stays cheap (no torch until something needs it).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["annotate", "images", "people", "poses"],
    submod_attrs={
        "annotate": ["stratified_choice"],
        "images": ["atlas_lookup", "background", "shade_from_depth"],
        "people": [
            "SynthSettings", "project_ground_truth", "rotation_matrix", "sample_segment_scales", "synthesize_project"
        ],
        "poses": ["MotionFileError", "load_amass_poses", "pose_limits", "sample_limited_poses"],
    },
)
