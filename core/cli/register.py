"""`deformlearn register PROJECT`: fit the template to a project's people and store the fits."""

from __future__ import annotations

import argparse

HELP = "register the template to the project's people (batched; writes fits into the project)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project folder")
    parser.add_argument("--only", default=None, metavar="IDS", help="comma-separated person ids (default: all "
                        "people; those with neither dense points nor 4 visible keypoints are skipped)")
    parser.add_argument("--device", default="cpu",
                        help="torch device: cpu, cuda, cuda:1 or auto (a GPU when torch sees one; default cpu)")
    parser.add_argument("--init", choices=("tpose", "predictions", "fits", "auto"), default="tpose",
                        help="tpose: the staged single-fit schedule from the T-pose at several orientations "
                        "(stiff round-1 weights, then relaxed ones, with pose and upright priors; keypoint-only "
                        "people: torso first); predictions: later-round schedule (100 steps) from the regressor's "
                        "predictions; fits: the later-round schedule from each person's current fit (the one its "
                        "review refers to); auto (what the app's Fit does): people with a good, converged, not "
                        "rejected current fit are re-fitted from it with the relaxed stage alone, the rest run "
                        "the tpose schedule")
    parser.add_argument("--batch-size", type=int, default=256, help="people per batch (default 256)")
    parser.add_argument("--steps", type=int, default=None, help="override the schedule's number of steps")
    parser.add_argument("--orientations", type=int, default=None, help="override the number of initial "
                        "orientations (tpose only)")
    parser.add_argument("--depths", choices=("auto", "none"), default="auto",
                        help="auto: the cGAN depths of the newest round that lifted people (later rounds that "
                             "skip their cGAN, or ran with --lifter none, lifted nobody), when the project has "
                             "them; none: 2D only")
    parser.add_argument("--lifter", default=None, metavar="FILE",
                        help="lift the keypoints to depths with this lifter file (models/round_KKK/lifter.pt of any "
                        "project, e.g. one trained on a synthetic project with `deformlearn round SYNTH --stages "
                        "lifting`) instead of the project's latest round's depths")
    parser.add_argument("--regressor", default=None, metavar="FILE",
                        help="regressor file for --init predictions (default: the latest round's)")
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
        raise CommandError(f"--only: no person with these ids: {missing}")
    return ids


def _lifted_depths(project) -> dict | None:
    """{person_id: (17,) normalised depths} from the newest round whose lifting stage lifted people, or None. That
    round's depth arrays missing, unreadable (a damaged .npy) or of other lengths raise CommandError naming
    the file and the options that fit without them or lift afresh: never silently fitted without depths."""
    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.project.records import ProjectError
    from deformlearn.core.project.round_records import ARRAYS_DIR
    from deformlearn.core.rounds.loop import array_name

    for r in reversed(project.rounds()):
        if r.stages.get("lifting") != "done":
            continue
        lifter = f" or --lifter {project.root / r.models['lifter']} (lift them again)" if "lifter" in r.models else ""
        try:
            ids = project.read_array(array_name(r.index, "lifted_ids"))
            depths = project.read_array(array_name(r.index, "lifted_depths"))
        except ProjectError as exc:
            raise CommandError(f"{exc}: round {r.index}'s cGAN depths; pass --depths none (fit 2D only){lifter}"
                               ) from None
        if depths.shape != (len(ids), 17):
            depths_file = project.root / ARRAYS_DIR / f"{array_name(r.index, 'lifted_depths')}.npy"
            raise CommandError(f"{depths_file}: round {r.index}'s cGAN depths have shape {depths.shape}, expected "
                               f"({len(ids)}, 17) for its {len(ids)} lifted people; pass --depths none (fit 2D "
                               f"only){lifter}")
        if len(ids):  # a round that lifted no one (--lifter none, or a later round that skipped its cGAN)
            return {int(p): d for p, d in zip(ids, depths)}
    return None


def schedule_from_args(args: argparse.Namespace):
    """The fit schedule the options ask for: from the T-pose the staged single-fit schedule (stiff, then
    relaxed; `FitSchedule.single_fit`), from predictions or fits the later-round refinement."""
    from deformlearn.core.registration.schedule import FitSchedule
    from deformlearn.core.registration.settings import RegistrationSettings

    changes = {"device": args.device, "num_threads": args.threads}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.init in ("predictions", "fits"):
        return FitSchedule.single(RegistrationSettings.later_round(**changes))
    if args.orientations is not None:
        changes["num_orientations"] = args.orientations
    schedule = FitSchedule.single_fit(**changes)
    return schedule.with_(progress_every=max(1, schedule.steps // 50))


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.project.job_lock import project_job
    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.pipeline import FitPlan, fit_people, lift_depths

    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    schedule = schedule_from_args(args)
    with Project.open(args.project) as project, project_job(project.root, "register"):
        ids = _parse_ids(args.only, project.person_ids())
        if args.lifter:
            depths = lift_depths(project, ids, args.lifter)
        else:
            depths = _lifted_depths(project) if args.depths == "auto" else None
        plan = FitPlan(schedule, start=args.init, depths=depths, round_index=args.round_index,
                       chunk_size=args.batch_size, regressor=args.regressor)
        bar = tqdm(total=len(ids), unit="person", desc="register", dynamic_ncols=True)

        def progress(event) -> None:
            bar.n = event.chunk * args.batch_size + round(event.step / event.total * min(args.batch_size, len(ids)))
            bar.set_postfix(loss=f"{event.losses.get('total', float('nan')):.4g}", refresh=False)
            bar.refresh()

        try:
            summary = fit_people(project, load_project_template(project), ids, plan, progress=progress)
        finally:
            bar.close()
    if not summary.fitted + summary.failed:
        raise CommandError(f"{args.project}: nobody to register: {len(summary.skipped)} people have neither dense "
                           "points nor enough keypoints")
    quality = ", ".join(f"{n} {q}" for q, n in sorted(summary.quality.items()))
    print(f"registered {summary.fitted + summary.failed} people: {summary.converged} converged, "
          f"{summary.fitted - summary.converged} not converged, {summary.failed} failed"
          f"; quality: {quality}" + (f"; skipped {len(summary.skipped)} with nothing to fit" if summary.skipped else ""))
    return 0
