"""`deformlearn export PROJECT --out DIR`: write the people's latest fits as meshes, a rigged glTF and
parameter files (formats and frames: `core.export.exporter`)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: Suffixes of the files export writes: an --out that does not exist yet and ends so is a file name given
#: by mistake, not a folder.
_FILE_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".json", ".npz")

HELP = "export fits as meshes (OBJ/PLY/GLB), a rigged glTF, parameter JSON/NPZ and a SPIN-style npz"


def _ids(text: str) -> list[int]:
    """'3,5,10-12' -> [3, 5, 10, 11, 12]."""
    ids: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            ids += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected person ids like 3,5,10-12, got {text!r}") from None
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deformlearn.core.export.common import DEFAULT_FORMATS, FORMATS, FRAMES

    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into (made if missing)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--only", type=_ids, metavar="IDS", help="person ids, e.g. 3,5,10-12 (default: all)")
    who.add_argument("--accepted", action="store_true", help="only people whose fit was accepted in review")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS, metavar="FORMAT",
                        help=f"repeatable; one of {', '.join(FORMATS)} (default: {', '.join(DEFAULT_FORMATS)})")
    parser.add_argument("--frame", choices=FRAMES, default="image",
                        help="image: pixels, y down, overlays the image; canonical: metres, y up (default image)")
    parser.add_argument("--uv", action="store_true",
                        help="keep seam vertices and write DensePose atlas texture coordinates and the atlas")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.export.exporter import DEFAULT_FORMATS, export_fits
    from deformlearn.core.project.store import Project

    out = Path(args.out)
    if out.exists() and not out.is_dir() or not out.exists() and out.suffix.lower() in _FILE_SUFFIXES:
        raise CommandError(f"--out {out}: {'is a file' if out.exists() else 'looks like a file name'}; --out "
                           "names a folder to write the files into (made if missing), e.g. --out "
                           f"{out.parent / out.stem}")
    with Project.open(args.project, readonly=True) as project:
        if args.only is not None:
            known = set(project.person_ids().tolist())
            missing = [i for i in args.only if i not in known]
            if missing:
                raise ValueError(f"{project.root}: no people with ids {missing}")
            ids = args.only
        else:
            ids = project.person_ids(status="accepted" if args.accepted else None).tolist()
        skipped: list[int] = []
        with tqdm(total=len(ids), desc="export", unit="person") as bar:
            def progress(event) -> None:
                if not event.files:
                    skipped.append(event.person_id)
                bar.update(1)

            files = export_fits(project, ids, args.out, formats=tuple(args.formats or DEFAULT_FORMATS),
                                frame=args.frame, uv=args.uv, progress=progress)
    print(f"wrote {len(files)} files for {len(ids) - len(skipped)} people to {args.out}")
    if skipped:
        print(f"skipped {len(skipped)} people without a fit: {', '.join(map(str, skipped[:20]))}"
              + (" ..." if len(skipped) > 20 else ""))
    return 0
