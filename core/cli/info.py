"""`deformlearn info PROJECT [--people] [--sort COLUMN] [--fit FILTER]`: what a project holds: people, fits,
reviews, rounds; with --people (or --sort or --fit, which imply it) a line per person (image, points,
keypoints, review, fit and its verdict)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from deformlearn.core.project.records import (  # records, not people: no scipy at parser build
    FIT_FILTERS,
    ORDER_COLUMNS,
    person_label,
)

HELP = "show what a project holds: people, fits, reviews and trained rounds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--people", action="store_true",
                        help="also list every person: image, points, keypoints, review, fit status, error, verdict")
    parser.add_argument("--sort", default=None, choices=sorted(ORDER_COLUMNS),
                        help="order of the --people list (default id; error: lowest first, quality: best first); "
                             "implies --people")
    parser.add_argument("--fit", default=None, choices=sorted(FIT_FILTERS), dest="fit_filter",
                        help="list only people whose current fit is this (fit status or quality verdict); "
                             "implies --people")


def person_line(row, label: str) -> str:
    """One person of `info --people` from a PersonRow and its label: id, label, counts, review, fit."""
    if row.fit_status is None:
        fit = "not fitted"
    else:
        error = "" if row.fit_error is None else f", {row.fit_error:.2f} px"
        flags = f" ({row.fit_flags.replace(',', ', ')})" if row.fit_flags else ""
        fit = f"{row.fit_status}{error}, {row.fit_quality or 'not judged'}{flags}"
    return f"{row.id:>6}  {label:<30.30}  {row.num_points:>5} pts  {row.num_keypoints:>2} kp  {row.status:<10}  {fit}"


def _all_rows(project, order_by: str = "id", fit_filter: str | None = None) -> list:
    rows, page = [], 1000
    while batch := project.list_persons(offset=len(rows), limit=page, order_by=order_by, fit_status=fit_filter):
        rows += batch
        if len(batch) < page:
            break
    return rows


def people_labels(rows: list) -> dict[int, str]:
    """{person id: label}: the person's name, else its image file and, on an image of several people, which
    of them it is in id order ("demo_im.jpg · 3 of 12", as the app's list and gallery name them)."""
    of_image: dict[int, list[int]] = {}
    for r in sorted(rows, key=lambda r: r.id):
        of_image.setdefault(r.image_id, []).append(r.id)
    return {r.id: person_label(r.name, r.image_file, of_image[r.image_id].index(r.id) + 1, len(of_image[r.image_id]))
            for r in rows}


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
        listed = args.people or args.sort is not None or args.fit_filter is not None
        sort = args.sort or "id"
        people = _all_rows(project, sort, args.fit_filter) if listed else None
        # labels count every person of an image: a filtered list needs all the rows, an unfiltered one has them
        everyone = people if people is None or args.fit_filter is None else _all_rows(project)
        labels = {} if everyone is None else people_labels(everyone)
    job = read_lock(root)
    if args.json:
        print(to_json({"project": str(root), "template": template, **s, **fits, "unusable_people": unusable, "job": job,
                       "round_list": [{"index": r.index, "stages": r.stages, "metrics": r.metrics, "models": r.models,
                                       "finished": r.finished_at is not None} for r in rounds],
                       **({} if people is None else {"people": [{**asdict(r), "label": labels[r.id]} for r in people]})}))
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
    if people is not None:
        shown = f"{len(people)} people" + (f" with a {args.fit_filter} fit" if args.fit_filter else "")
        print(f"people    {shown}, by {sort}:")
        for row in people:
            print(person_line(row, labels[row.id]))
    return 0
