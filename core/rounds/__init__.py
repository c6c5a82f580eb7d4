"""The deform-and-learn loop: one round = cGAN, registration, regressor, evaluation; settings and presets."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["loop", "metrics", "settings"],
    submod_attrs={
        "loop": [
            "RoundError", "RoundProgress", "array_name", "ensure_correspondences", "round_history",
            "run_round"
        ],
        "metrics": ["fit_keypoints_camera", "holdout_mask"],
        "settings": ["RoundSettings"],
    },
)
