"""2D keypoints for images that have none: MediaPipe's BlazePose, run offline in its own environment.

The names below are this subpackage's public face (lazy_loader), for the command line, the app and the
other subpackages.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["detector", "environment", "landmarks"],
    submod_attrs={
        "detector": ["DetectionReport", "DetectorError", "PoseDetector", "detect_in_project", "detect_keypoints"],
        "environment": ["DetectorNotInstalled", "detector_env_dir", "detector_python", "install_detector"],
        "landmarks": ["BLAZEPOSE_TO_COCO", "blazepose_to_coco"],
    },
)
