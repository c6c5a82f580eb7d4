"""Batched registration of the template to images: losses (one per equation), data, settings, the fitter."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["data", "fitter", "losses", "settings", "synthetic"],
    submod_attrs={
        "data": [
            "PIXELS_256_PER_UNIT", "PersonTargets", "collate", "normalised_to_pixels", "persons_from_project",
            "pixels_to_normalised", "square_box"
        ],
        "fitter": ["BodyParams", "PersonFit", "RegistrationProgress", "register", "start_rotations"],
        "losses": [
            "JOINT_LIMIT_AXES", "angle_loss", "dense_loss", "det_loss", "hip_centred_depths", "keypoint_loss",
            "scale_loss"
        ],
        "settings": ["RegistrationSettings"],
        "synthetic": ["make_synthetic_people", "random_pose"],
    },
)
