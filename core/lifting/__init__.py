"""The multi-view cGAN that lifts 2D keypoints to joint depths: networks, losses, data, evaluation."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["cgan", "data", "evaluation", "losses", "synthetic_lifter"],
    submod_attrs={
        "cgan": [
            "DepthGenerator", "LiftingProgress", "LiftingSettings", "PoseDiscriminator",
            "average_skeleton_from_template", "lift", "load_lifter", "save_lifter", "train_lifter"
        ],
        "data": [
            "DEFAULT_AVERAGE_SKELETON", "SyntheticSkeletons", "make_synthetic_skeletons", "pose_keypoints",
            "random_poses"
        ],
        "evaluation": ["depth_sign_agreement", "evaluate_lifting", "load_h36m_body3d"],
        "losses": ["RATIO_BONES"],
        "synthetic_lifter": ["SYNTHETIC_PEOPLE", "lifter_cache_dir", "synthetic_lifter", "synthetic_lifter_path"],
    },
)
