"""Import names people of one image whose boxes overlap so much that they are probably one person twice."""

from __future__ import annotations

import numpy as np

from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.records import PersonAnnotation
from deformlearn.core.project.importing import overlapping_people


def _person(image: str, box) -> PersonAnnotation:
    return PersonAnnotation(image_file=image, image_size=(640, 480), bbox=np.array(box, np.float32),
                            keypoints=np.zeros((17, 3), np.float32), dense=None, source_key=f"{image}{box}")


def test_only_boxes_of_one_image_that_overlap_by_half_are_named() -> None:
    people = [_person("a.jpg", [0, 0, 100, 200]), _person("a.jpg", [10, 10, 100, 200]),  # IoU 0.75
              _person("a.jpg", [60, 0, 100, 200]),  # IoU 0.25 with the first
              _person("b.jpg", [0, 0, 100, 200])]  # same box, other image
    notes = overlapping_people(people)
    assert len(notes) == 1 and notes[0].startswith("a.jpg: two people's boxes overlap by IoU 0.7")
    assert "x 0 y 0 w 100 h 200, x 10 y 10 w 100 h 200" in notes[0]


def test_the_rickshaw_man_found_twice_by_densepose_is_named_at_import(shared_data, tmp_path, capsys) -> None:
    assert main(["import", str(tmp_path / "p"), "--iuv", str(shared_data / "densepose"), "--no-correspondences"]) == 0
    notes = [x for x in capsys.readouterr().out.splitlines() if "overlap by IoU" in x]
    assert len(notes) == 1 and notes[0].startswith("note: demo_im.jpg: two people's boxes overlap by IoU 0.74")
