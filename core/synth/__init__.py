"""Synthetic DensePose-COCO-like people with exact ground truth."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["annotate", "images", "people", "poses", "settings"],
    submod_attrs={
        "annotate": ["stratified_choice"],
        "images": ["atlas_lookup", "background", "shade_from_depth"],
        "people": ["project_ground_truth", "rotation_matrix", "sample_segment_scales", "synthesize_project"],
        "poses": ["MotionFileError", "load_motion_poses", "pose_limits", "sample_limited_poses"],
        "settings": ["SynthReport", "SynthSettings"],
    },
)
