"""The body: template data, rotations, segment-scaled skinning X(S, a), weak-perspective camera, skeletons,
DensePose part charts and the SMPL loader.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "camera", "charts", "model", "part_segmentation", "rotations", "skeletons", "skinning", "smpl_loader", "template"
    ],
    submod_attrs={
        "camera": ["FRONTAL_ROTATION_VALUES", "frontal_rotation", "weak_perspective_project"],
        "charts": ["compute_part_charts"],
        "model": ["BodyModel", "BodyOutput"],
        "part_segmentation": ["face_parts", "split_part_seams"],
        "rotations": [
            "axis_angle_to_quaternion", "axis_angle_to_rotmat", "gram_schmidt_rotation", "quaternion_to_axis_angle",
            "quaternion_to_rotmat", "rotmat_to_axis_angle", "rotmat_to_quaternion"
        ],
        "skeletons": [
            "COARSE_PART_NAMES", "COCO_FLIP_INDEX", "COCO_KEYPOINT_NAMES", "COCO_SKELETON", "DENSEPOSE_PART_NAMES",
            "FINE_TO_COARSE_PART", "NUM_JOINTS", "NUM_KEYPOINTS", "NUM_PARTS", "SEGMENT_COARSE_PART", "SMPL_JOINT_NAMES",
            "SMPL_PARENTS"
        ],
        "skinning": [
            "factorised_constants", "forward_kinematics", "joint_transforms", "kinematic_levels", "skin_factorised",
            "stack_joint_maps"
        ],
        "smpl_loader": [
            "SmplFileError", "find_smpl_file", "load_smpl_template", "read_uv_processed", "smpl_template_from_arrays"
        ],
        "template": [
            "Template", "TemplateError", "builtin_template_path", "load_builtin_template", "load_template",
            "save_template"
        ],
    },
)
