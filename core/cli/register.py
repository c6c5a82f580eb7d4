"""`deformlearn register PROJECT`: fit the template to a project's people and store the fits."""

from __future__ import annotations

import argparse

HELP = "register the template to the project's people (batched; writes fits into the project)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project folder")
    parser.add_argument("--only", default=None, metavar="IDS", help="comma-separated person ids (default: all "
                        "people with dense points)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 (default cpu)")
    parser.add_argument("--init", choices=("tpose", "predictions", "fits"), default="tpose",
                        help="tpose: round-1 schedule (stiff, 300 steps, several orientations); predictions: "
                        "later-round schedule (100 steps) from the latest regressor's predictions; fits: the "
                        "later-round schedule from each person's latest stored fit")
    parser.add_argument("--batch-size", type=int, default=256, help="people per batch (default 256)")
    parser.add_argument("--steps", type=int, default=None, help="override the schedule's number of steps")
    parser.add_argument("--orientations", type=int, default=None, help="override the number of initial "
                        "orientations (tpose only)")
    parser.add_argument("--depths", choices=("auto", "none"), default="auto",
                        help="auto: use the latest round's cGAN depths when the project has them; none: 2D only")
    parser.add_argument("--round", type=int, default=0, dest="round_index",
                        help="round index stored with the fits (default 0: outside the deform-and-learn loop)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default 0: torch's choice, all cores; 1 on a busy shared machine)")


def _parse_ids(text: str | None, available) -> list[int]:
    from deformlearn.core.cli.parser import CommandError

    if text is None:
        return [int(p) for p in available]
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError as exc:
        raise CommandError(f"--only: expected comma-separated integer ids, got {text!r}") from exc
    missing = sorted(set(ids) - {int(p) for p in available})
    if missing:
        raise CommandError(f"--only: no person with dense points and these ids: {missing}")
    return ids


def _lifted_depths(project) -> dict | None:
    """{person_id: (17,) normalised depths} from the newest round that lifted keypoints, or None."""
    from deformlearn.core.rounds.loop import array_name

    for r in reversed(project.rounds()):
        try:
            ids = project.read_array(array_name(r.index, "lifted_ids"))
            depths = project.read_array(array_name(r.index, "lifted_depths"))
        except (FileNotFoundError, ValueError, OSError):
            continue
        return {int(p): d for p, d in zip(ids, depths)}
    return None


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from deformlearn.core.body.model import BodyModel
    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.project.records import FitRecord
    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.data import collate, persons_from_project
    from deformlearn.core.registration.fitter import BodyParams, register
    from deformlearn.core.registration.settings import RegistrationSettings
    from deformlearn.core.rounds.loop import ensure_correspondences

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    changes = {"device": args.device, "num_threads": args.threads}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.init == "tpose":
        if args.orientations is not None:
            changes["num_orientations"] = args.orientations
        settings = RegistrationSettings.round1(**changes)
    else:
        settings = RegistrationSettings.later_round(**changes)

    with Project.open(args.project) as project:
        template = load_project_template(project)
        all_ids = project.person_ids()
        with_dense = [int(p) for p in all_ids if (d := project.person(int(p)).dense) is not None and len(d)]
        ids = _parse_ids(args.only, with_dense)
        if not ids:
            raise CommandError(f"{project.root}: no people with dense points to register")
        key = ensure_correspondences(project, template, np.array(ids, dtype=np.int64))
        depths = _lifted_depths(project) if args.depths == "auto" else None
        body = BodyModel(template)
        counts = {"converged": 0, "failed": 0, "not converged": 0}
        bar = tqdm(total=len(ids) * settings.steps, unit="img-it", desc="register", dynamic_ncols=True)
        try:
            for start in range(0, len(ids), args.batch_size):
                chunk = ids[start:start + args.batch_size]
                batch = collate(persons_from_project(project, chunk, key, depths))
                init = None
                if args.init == "predictions":
                    from deformlearn.core.regressor.prediction import predict_people

                    init = BodyParams.from_dicts(predict_people(project, np.array(chunk), device=args.device).before)
                elif args.init == "fits":
                    fits = [project.latest_fit(pid) for pid in chunk]
                    missing = [pid for pid, f in zip(chunk, fits) if f is None]
                    if missing:
                        raise CommandError(f"--init fits: no stored fit for people {missing}")
                    init = BodyParams.from_dicts([f.params for f in fits])
                done = [0]

                def progress(event, chunk=chunk, done=done) -> None:
                    bar.update((event.step - done[0]) * len(chunk))
                    done[0] = event.step
                    bar.set_postfix(loss=f"{float(np.nanmean(event.losses['total'])):.4g}",
                                    dense_px=f"{float(np.sqrt(np.nanmean(event.losses['dense']))) * 128:.2f}")

                result = register(body, batch, settings.with_(progress_every=max(1, settings.steps // 50)),
                                  init=init, progress=progress)
                project.save_fits([FitRecord(
                    person_id=int(f.person_id), round_index=args.round_index, params=f.params,
                    status="failed" if f.failed else "converged",
                    metrics={"error": f.dense_error_px, "keypoint_error_px": f.keypoint_error_px,
                             "converged": float(f.converged), **{f"loss_{k}": v for k, v in f.losses.items()}},
                ) for f in result.fits])
                for f in result.fits:
                    counts["failed" if f.failed else "converged" if f.converged else "not converged"] += 1
        finally:
            bar.close()
    print(f"registered {len(ids)} people: {counts['converged']} converged, {counts['not converged']} not "
          f"converged, {counts['failed']} failed")
    return 0
