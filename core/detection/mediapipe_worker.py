"""The pose detector's side of the JSON-lines protocol; runs in the detector's own environment.

This file is run as a script by the detector environment's Python (core.detection.environment), never
imported by deformlearn: it needs mediapipe, which pins versions the project's own environment must not
have. It imports only mediapipe, OpenCV and the standard library.

Protocol, one JSON object per line. On start it writes {"ready": true, "mediapipe": VERSION}. Then for
each request {"crop": PNG_PATH} on stdin it writes {"landmarks": [[x, y, visibility], ...]}
(33 BlazePose landmarks, x and y as fractions of the crop's width and height, visibility in [0, 1]) or {"landmarks": null} when
no person is found, or {"error": MESSAGE}. It ends at end of input.
"""

import json
import sys


def main() -> int:
    import cv2
    import mediapipe
    from mediapipe.python.solutions import pose as mp_pose

    # model_complexity=1 is the landmark model that ships inside the mediapipe wheel (0 and 2 download theirs)
    with mp_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False) as detector:
        print(json.dumps({"ready": True, "mediapipe": mediapipe.__version__}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                crop = cv2.imread(json.loads(line)["crop"], cv2.IMREAD_COLOR)
                if crop is None:
                    raise ValueError("crop is not a readable image")
                result = detector.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
                landmarks = None if result.pose_landmarks is None else [
                    [lm.x, lm.y, lm.visibility] for lm in result.pose_landmarks.landmark]
                print(json.dumps({"landmarks": landmarks}), flush=True)
            except Exception as exc:  # one bad request must not end the session; the caller reports it
                print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
