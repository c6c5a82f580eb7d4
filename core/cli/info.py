"""`deformlearn info PROJECT`: what a project holds: people, fits, reviews, rounds."""

from __future__ import annotations

import argparse

HELP = "show what a project holds: people, fits, reviews and trained rounds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def fitted_line(fitted: int, failed: int, fits: dict) -> str:
    """'13 (12 converged, 1 stopped at the step limit), 0 failed' from project.summary()'s counts and
    project.fit_outcomes()'."""
    parts = [f"{fits['optimiser_converged']} converged", f"{fits['stopped_at_step_limit']} stopped at the step limit"]
    unknown = fitted - fits["optimiser_converged"] - fits["stopped_at_step_limit"]
    if unknown:
        parts.append(f"{unknown} not recorded")
    return f"{fitted} ({', '.join(parts)}), {failed} failed"


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.project.job_lock import read_lock
    from deformlearn.core.project.records import to_json
    from deformlearn.core.project.store import Project

    with Project.open(args.project, readonly=True) as project:
        s = project.summary()
        rounds = project.rounds()
        template = project.template
        root = project.root
        unusable = project.failed_people()
        fits = project.fit_outcomes()
    job = read_lock(root)
    if args.json:
        print(to_json({"project": str(root), "template": template, **s, **fits, "unusable_people": unusable, "job": job,
                       "round_list": [{"index": r.index, "stages": r.stages, "metrics": r.metrics, "models": r.models,
                                       "finished": r.finished_at is not None} for r in rounds]}))
        return 0
    print(f"project   {root}")
    print(f"template  {template}")
    print(f"images    {s['images']}")
    print(f"people    {s['persons']} ({s['with_dense']} with dense points)")
    print(f"fitted    {fitted_line(s['fitted'], s['failed'], fits)}")
    quality = fits["quality"]
    print(f"quality   {quality['good']} good, {quality['poor']} poor, {quality['degenerate']} degenerate"
          + (f", {quality['not_judged']} not judged" if quality["not_judged"] else ""))
    print(f"reviewed  {s['accepted']} accepted, {s['rejected']} rejected, {s['unreviewed']} unreviewed")
    if unusable:
        shown = "; ".join(unusable[p] for p in list(unusable)[:3])
        print(f"unusable  {len(unusable)} left out of rounds ({shown}{' ...' if len(unusable) > 3 else ''})")
    if job is not None:
        print(f"job       {job.get('job', 'unknown')} running (PID {job.get('pid')}, lock {root / 'project.lock'})")
    print(f"rounds    {s['rounds']} ({s['finished_rounds']} finished)")
    for r in rounds:
        state = "finished" if r.finished_at is not None else "open"
        stages = ", ".join(f"{k}: {v}" for k, v in r.stages.items()) or "no stages yet"
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in r.metrics.items())
        models = ", ".join(f"{k}: {v}" for k, v in r.models.items())
        print(f"  round {r.index} ({state}): {stages}" + (f"; {metrics}" if metrics else "")
              + (f"; models {models}" if models else ""))
    return 0
