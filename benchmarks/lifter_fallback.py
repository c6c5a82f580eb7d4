"""When should a round lift with the synthetic lifter rather than train its own cGAN? Prints one JSON line.

Compares, on the four Human3.6M frames of ../shared/data (3D truth; skipped when absent):
- `synthetic`: the fallback lifter a round uses (core/lifting/synthetic_lifter.py: 400 synthetic skeletons
  posed from the built-in template's average skeleton, cpu-demo settings);
- `own_real`: the cGAN a round trains on a small real-keypoint project (the 12 COCO people of
  shared/data/coco with >= 8 keypoints + the 4 H36M frames' 2D keypoints), as `round` would;
- `own_synthetic_N`: cGANs trained on N people of another synthetic distribution (AMASS-based poses when
  shared/data/motion is there), mean of 3 seeds, also scored on 300 held-out people of that distribution:
  how many poses a project needs before its own cGAN is as good as the fallback;
Scores: MPJPE / PA-MPJPE (mm, lifting.evaluate_lifting) and depth-sign agreement (fraction of joint pairs
>= 10 cm apart in depth whose order is right; 0.5 is chance).

    OMP_NUM_THREADS=1 python benchmarks/lifter_fallback.py
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from deformlearn.core.body.template import load_builtin_template
from deformlearn.core.densepose.coco import read_coco_keypoints
from deformlearn.core.lifting.cgan import LiftingSettings, average_skeleton_from_template, lift, train_lifter
from deformlearn.core.lifting.data import make_synthetic_skeletons
from deformlearn.core.lifting.evaluation import depth_sign_agreement, evaluate_lifting, load_h36m_body3d
from deformlearn.core.lifting.synthetic_lifter import synthetic_lifter
from deformlearn.core.synth.poses import load_motion_poses

SHARED = Path(os.environ.get("DEFORMLEARN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SIZES = (8, 16, 32, 64, 128)
SEEDS = (0, 1, 2)


def scores(model, keypoints_2d: np.ndarray, joints3d: np.ndarray, mask: np.ndarray) -> dict:
    """MPJPE, PA-MPJPE (mm) and depth-sign agreement of `model` on (P, 17, 3) keypoints against joints3d."""
    ev = evaluate_lifting(model, keypoints_2d, joints3d, mask)
    sign = depth_sign_agreement(lift(model, keypoints_2d), joints3d[..., 2], mask)
    return {"mpjpe_mm": round(ev.mpjpe_mm, 1), "pa_mpjpe_mm": round(ev.pa_mpjpe_mm, 1), "depth_sign": round(sign, 3)}


def mean_scores(rows: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in rows])), 3 if k == "depth_sign" else 1) for k in rows[0]}


def main() -> None:
    h36m_file = SHARED / "h36m" / "test_h36m_body3d.npz"
    if not h36m_file.is_file():
        print(json.dumps({"benchmark": "lifter_fallback", "skipped": f"{h36m_file} not found"}))
        return
    settings = LiftingSettings.cpu_demo()
    average = average_skeleton_from_template(load_builtin_template())
    h36m = load_h36m_body3d(h36m_file)
    test = (h36m.keypoints_2d, h36m.joints3d_cam, h36m.score_mask)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DEFORMLEARN_DATA"] = cache
        fallback = synthetic_lifter(average, settings)
    out: dict = {"benchmark": "lifter_fallback", "settings": "cpu-demo", "h36m_frames": len(h36m.image_names),
                 "synthetic": scores(fallback.generator, *test)}
    coco = [p.keypoints for p in read_coco_keypoints(SHARED / "coco" / "test_coco.json", SHARED / "coco")]
    coco = [k for k in coco if (k[:, 2] > 0).sum() >= settings.min_visible]
    own = np.concatenate([np.stack(coco), h36m.keypoints_2d]).astype(np.float32)
    out["own_real"] = {"people": len(own), **scores(train_lifter(own, settings, average_skeleton=average).generator(),
                                                    *test)}
    amass = SHARED / "motion" / "amass_sample.npz"
    base = load_motion_poses(amass) if amass.is_file() else None
    other = make_synthetic_skeletons(300, seed=20, average_skeleton=average, base_poses=base)
    other_test = (other.keypoints_2d, other.joints3d_cam, other.keypoints_2d[..., 2] > 0)
    out["synthetic_on_other"] = scores(fallback.generator, *other_test)
    for n in SIZES:
        h36m_rows, other_rows = [], []
        for seed in SEEDS:
            data = make_synthetic_skeletons(n, seed=100 + seed, average_skeleton=average, base_poses=base)
            model = train_lifter(data.keypoints_2d, replace(settings, seed=seed), average_skeleton=average).generator()
            h36m_rows.append(scores(model, *test))
            other_rows.append(scores(model, *other_test))
        out[f"own_synthetic_{n}"] = {"h36m": mean_scores(h36m_rows), "other": mean_scores(other_rows)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
