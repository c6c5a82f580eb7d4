"""Batched registration of the template to images: losses (one per equation), data, settings, the fitter."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["data", "fitter", "losses", "pipeline", "progress", "quality", "schedule", "settings", "synthetic"],
    submod_attrs={
        "data": [
            "PIXELS_256_PER_UNIT", "PersonTargets", "collate", "normalised_to_pixels", "persons_from_project",
            "pixels_to_normalised", "square_box"
        ],
        "fitter": ["BodyParams", "PersonFit", "RegistrationProgress", "register", "start_rotations"],
        "losses": [
            "JOINT_LIMIT_AXES", "POSE_LIMITS_DEG", "angle_loss", "dense_loss", "det_loss", "hip_centred_depths",
            "keypoint_loss", "pose_prior_loss", "scale_loss", "upright_loss"
        ],
        "pipeline": [
            "FIT_METRIC_KEYS", "MIN_KEYPOINTS", "START_CHOICES", "FitPlan", "FitSummary",
            "ensure_correspondences", "fit_chunk", "fit_metrics", "fit_people", "fit_record", "fittable_people",
            "keypoint_error_of", "lift_depths", "start_params"
        ],
        "progress": ["PipelineProgress"],
        "quality": ["QUALITIES", "QualityRules", "judge_fit", "trunk_pitch_deg"],
        "schedule": ["FitSchedule", "register_schedule"],
        "settings": ["RegistrationSettings"],
        "synthetic": ["make_synthetic_people"],
    },
)
