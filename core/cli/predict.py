"""`deformlearn predict PROJECT`: the trained regressor on a project's people, optionally refined by registration."""

from __future__ import annotations

import argparse
import json

HELP = "predict body shape and pose with the latest regressor (--refine: then register from the prediction)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project folder")
    parser.add_argument("--images", nargs="*", default=[], metavar="IMAGE",
                        help="only the people in these images (path or file name; default: everybody)")
    parser.add_argument("--refine", action="store_true", help="refine each prediction by registration (100 steps)")
    parser.add_argument("--regressor", default=None, help="a regressor file (default: the latest round's)")
    parser.add_argument("--out", default=None, metavar="NPZ", help="write per-person parameters to this npz")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.settings import RegistrationSettings
    from deformlearn.core.regressor.prediction import people_of_images, predict_people

    with Project.open(args.project, readonly=True) as project:
        ids = people_of_images(project, args.images)
        result = predict_people(project, ids, regressor=args.regressor, device=args.device,
                                refine=RegistrationSettings.later_round() if args.refine else None)
    if args.out:
        arrays = {"person_ids": result.person_ids}
        for name, params in (("before", result.before), ("after", result.after)):
            if params is not None:
                for key in params[0]:
                    arrays[f"{name}_{key}"] = np.stack([p[key] for p in params])
        np.savez(args.out, **arrays)
    print(json.dumps({"people": len(ids), **{k: round(v, 3) for k, v in result.metrics.items()}}))
    return 0
