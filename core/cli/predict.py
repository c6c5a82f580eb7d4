"""`deformlearn predict`: the trained regressor on a project's people, or on new data without making a project.

    deformlearn predict PROJECT [--images IMAGE ...] [--no-refine] [--out NPZ]
    deformlearn predict PROJECT --iuv DIR --export OUT          # new images with DensePose IUV/INDS output
    deformlearn predict --regressor MODEL.pt --coco-densepose ann.json --image-dir val2014/ --export OUT

With a new-data source the people are read like `deformlearn import` reads them, put into a prediction
project (`--keep-project DIR`, else a temporary one), predicted with PROJECT's latest regressor (or
--regressor), refined (unless --no-refine: `core.regressor.prediction.refine_predictions`, a fit from the
prediction with the single fit's relaxed stage, and the whole single fit of `deformlearn register` from the
T-pose without and with the prediction's keypoint depths as depth targets; each person's fit that explains
the annotations best is kept), and
`--export` writes the same meshes and parameter files as `deformlearn export`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HELP = "predict body shape and pose with a trained regressor, for a project's people or new images/annotations"

#: new-data sources: option -> the reader's input kind (`core.densepose.readers.read_people`)
_NEW_DATA = {"iuv": "iuv", "coco_densepose": "coco-densepose", "coco_keypoints": "coco-keypoints",
             "densepose_results": "densepose-results"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=None,
                        help="project folder (its latest regressor and template); optional with --regressor")
    parser.add_argument("--images", nargs="*", default=[], metavar="IMAGE",
                        help="only the project's people in these images (path or file name; default: everybody)")
    parser.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                        help="refine each prediction by registration: the single fit's relaxed stage from the "
                             "prediction, and the whole single fit of `deformlearn register` from the T-pose without "
                             "and with the prediction's keypoint depths, keeping each person's fit that explains the "
                             "annotations best (default; --no-refine gives the regressor's own output)")
    parser.add_argument("--regressor", default=None, help="a regressor file (default: the project's latest round's)")
    parser.add_argument("--out", default=None, metavar="NPZ", help="write per-person parameters to this npz")
    parser.add_argument("--device", default="cpu",
                        help="torch device: cpu, cuda, cuda:1 or auto (a GPU when torch sees one; default cpu)")
    new = parser.add_argument_group("new data (instead of the project's people)")
    new.add_argument("--iuv", metavar="DIR", help="folder of images with DensePose inference output (IUV + INDS png)")
    new.add_argument("--coco-densepose", metavar="JSON", help="a COCO DensePose annotation file")
    new.add_argument("--coco-keypoints", metavar="JSON", help="a COCO keypoints file (people need dense points too)")
    new.add_argument("--densepose-results", metavar="JSON", help="DensePose results (COCO challenge format)")
    new.add_argument("--image-dir", metavar="DIR", help="the images that an annotation file names")
    new.add_argument("--template", default=None, metavar="builtin|NPZ",
                     help="the regressor's template (default: the project's, else builtin)")
    new.add_argument("--export", metavar="DIR", help="write meshes (OBJ, PLY, GLB), rigged glTF and JSON/NPZ here")
    new.add_argument("--keep-project", metavar="DIR", help="keep the prediction project here (default: temporary)")


def run(args: argparse.Namespace) -> int:
    sources = [name for name in _NEW_DATA if getattr(args, name) is not None]
    if len(sources) > 1:
        raise ValueError(f"give one new-data source, got {', '.join('--' + s.replace('_', '-') for s in sources)}")
    if args.project is None and (args.regressor is None or not sources):
        raise ValueError("predict needs a PROJECT, or --regressor and a new-data source (--iuv, --coco-densepose, ...)")
    result = _predict_new(args, sources[0]) if sources else _predict_project(args)
    if args.out:
        _write_npz(args.out, result)
    print(json.dumps({"people": len(result.person_ids), **{k: round(v, 3) for k, v in result.metrics.items()}}))
    return 0


def _predict_project(args: argparse.Namespace):
    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.schedule import FitSchedule
    from deformlearn.core.regressor.prediction import people_of_images, predict_people

    if args.export:
        raise ValueError("--export is for new data; export a project's fits with `deformlearn export`")
    with Project.open(args.project, readonly=True) as project:
        ids = people_of_images(project, args.images)
        return predict_people(project, ids, regressor=args.regressor, device=args.device,
                              refine=FitSchedule.single_fit() if args.refine else None)


def _predict_new(args: argparse.Namespace, source: str):
    from deformlearn.core.densepose.readers import read_people
    from deformlearn.core.export.exporter import export_fits
    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.schedule import FitSchedule
    from deformlearn.core.regressor.prediction import latest_regressor_path, predict_new_people

    regressor, template = args.regressor, args.template
    if args.project is not None:
        with Project.open(args.project, readonly=True) as project:
            regressor = regressor or str(latest_regressor_path(project))
            spec = project.template
            template = template or (spec if spec == "builtin" else str((project.root / spec).resolve()))
    people = read_people(_NEW_DATA[source], getattr(args, source), images_dir=args.image_dir)
    with tempfile.TemporaryDirectory(prefix="deformlearn-predict-") as tmp:
        work = Path(args.keep_project) if args.keep_project else Path(tmp) / "project"
        project, result = predict_new_people(people, work, regressor=regressor, template=template or "builtin",
                                             refine=FitSchedule.single_fit() if args.refine else None,
                                             device=args.device)
        with project:
            if args.export:
                files = export_fits(project, result.person_ids, args.export)
                print(f"wrote {len(files)} files for {len(result.person_ids)} people to {args.export}")
    return result


def _write_npz(path: str, result) -> None:
    import numpy as np

    arrays = {"person_ids": result.person_ids}
    for name, params in (("before", result.before), ("after", result.after)):
        if params is not None:
            for key in params[0]:
                arrays[f"{name}_{key}"] = np.stack([p[key] for p in params])
    np.savez(path, **arrays)
