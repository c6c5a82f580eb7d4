"""Gallery and list: crops cut to each person's box, names that say image + person index, filters and sorting
shared with the list that keep the current person, and every box drawn on an image of several people."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt

from deformlearn.core.project.store import Project


def make_group_project(root: Path, template_file: str) -> Path:
    """One 400 x 300 image with three people side by side (boxes 100 x 200), and two single-person images."""
    root.mkdir(parents=True)
    with Project.create(root, template=template_file) as project:
        image = np.zeros((300, 400, 3), np.uint8)
        boxes = [np.array([20 + 130 * k, 50, 100, 200], np.float32) for k in range(3)]
        for k, (x, y, w, h) in enumerate(boxes):
            image[int(y):int(y + h), int(x):int(x + w)] = (60 * (k + 1), 40, 200 - 60 * k)  # BGR per person
        cv2.imwrite(str(root / "group.png"), image)
        group = project.add_image(root / "group.png", 400, 300)
        for k, box in enumerate(boxes):
            project.add_person(group, bbox=box, keypoints=np.zeros((17, 3)), dense=None, source_key=f"g{k}")
        for k in range(2):
            cv2.imwrite(str(root / f"solo{k}.png"), np.full((300, 400, 3), 100 + 50 * k, np.uint8))
            solo = project.add_image(root / f"solo{k}.png", 400, 300)
            project.add_person(solo, bbox=np.array([150, 50, 100, 200]), keypoints=np.zeros((17, 3)), dense=None,
                               source_key=f"s{k}")
    return root


def test_group_image_people_are_named_and_cropped_by_their_boxes(make_window, tmp_path, small_project) -> None:
    from deformlearn.app.gallery import GALLERY_PX

    root = make_group_project(tmp_path / "group", str(small_project.parent / "proj_template.npz"))
    win = make_window(root)
    model = win.people.model
    names = [model.data(model.index(r, 1)) for r in range(model.rowCount())]
    assert names == ["group.png · 1 of 3", "group.png · 2 of 3", "group.png · 3 of 3", "solo0.png", "solo1.png"]
    crops = [model.thumbnails.crop(model.person_id(r), str(root / "group.png"), GALLERY_PX) for r in range(3)]
    for k, pix in enumerate(crops):  # each crop is its own person: the centre pixel has that person's colour
        assert max(pix.width(), pix.height()) == GALLERY_PX
        centre = pix.toImage().pixelColor(pix.width() // 2, pix.height() // 2)
        assert (centre.red(), centre.blue()) == (200 - 60 * k, 60 * (k + 1))
    # the image view draws all three boxes, the shown person's bright, and numbers them
    win.people.select_row(1)
    x, _ = win.image_view.others_item.getData()
    own, _ = win.image_view.own_box_item.getData()
    assert len(x) == 16 and len(own) == 8 and [t.toPlainText() for t in win.image_view._box_labels] == ["1", "2", "3"]
    assert win.image_view.info.text().startswith("group.png · 2 of 3")
    win.people.select_row(3)
    x, _ = win.image_view.others_item.getData()
    assert (x is None or len(x) == 0) and win.image_view._box_labels == []  # a single person: no boxes


def test_group_image_draws_the_other_peoples_fits(make_window, tmp_path, small_project) -> None:
    from deformlearn.core.project.records import FitRecord

    root = make_group_project(tmp_path / "group", str(small_project.parent / "proj_template.npz"))
    with Project.open(root) as project:
        ids = [int(p) for p in project.person_ids()[:3]]
        params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
                  "rotation": np.eye(3, dtype=np.float32), "scale": np.array(0.5, np.float32),
                  "translation": np.zeros(2, np.float32)}
        project.save_fits([FitRecord(ids[0], 1, params, {}, "converged"),
                           FitRecord(ids[2], 1, params, {}, "failed")])
    win = make_window(root)
    view = win.image_view
    win.people.select_row(1)  # the middle person: the first one's fit is drawn, the failed third one's not
    x, y = view.others_fit_item.getData()
    edges = len(view._edges)
    assert len(x) == 2 * edges
    box = win.people.model.thumbnails.bbox(ids[0])
    assert box[0] < np.median(x) < box[0] + box[2] and box[1] < np.median(y) < box[1] + box[3]
    view.show_fit.setChecked(False)
    x, _ = view.others_fit_item.getData()
    assert x is None or len(x) == 0
    view.show_fit.setChecked(True)
    win.people.select_row(0)  # the first person sees no other fit: the others have none that converged
    x, _ = view.others_fit_item.getData()
    assert x is None or len(x) == 0


def test_gallery_filters_with_the_list_and_keeps_the_current_person(make_window, tmp_path, small_project,
                                                                     qtbot) -> None:
    win = make_window(small_project)
    panel, gallery = win.people, win.gallery
    win.central_tabs.setCurrentWidget(gallery)
    assert gallery.model() is panel.model and gallery.selectionModel() is panel.table.selectionModel()
    assert panel.count_label.text() == "6 people"
    win.people.select_row(1)
    keep = panel.current_person()
    panel.fit_status.setCurrentText("fitted")  # errors 1, 2, 3 px
    assert gallery.model().rowCount() == 3 and panel.count_label.text() == "3 of 6 people"
    assert panel.current_person() == keep and win.scene.pid == keep
    panel.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # by error, largest first
    assert [panel.model.person_id(r) for r in range(3)] == [3, 2, 1] and panel.current_person() == keep
    panel.use_threshold.setChecked(True)
    panel.threshold.setValue(1.5)
    assert panel.count_label.text() == "1 of 6 people" and panel.current_person() == 1  # 2 is filtered out
    # clicking a tile selects that person everywhere
    panel.use_threshold.setChecked(False)
    rect = gallery.visualRect(panel.model.index(0, 1))
    assert rect.width() > 150 and rect.height() > 150
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.current_person() == 3 and win.scene.pid == 3
    gallery.grab()  # paints every tile (crop, status frame, name, error) without error


def test_gallery_tiles_outline_each_persons_box_on_its_crop(make_window, tmp_path, small_project) -> None:
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    from deformlearn.app.gallery import BOX_COLOUR, GALLERY_PX, tile_box

    root = make_group_project(tmp_path / "group", str(small_project.parent / "proj_template.npz"))
    win = make_window(root)
    model, gallery = win.people.model, win.gallery
    index = model.index(1, 1)  # the middle person of three side by side: the crop shows its neighbours too
    pid = model.person_id(1)
    pix = model.thumbnails.crop(pid, str(root / "group.png"), GALLERY_PX)
    box = tile_box(model.thumbnails, pid, str(root / "group.png"), pix.width(), pix.height())
    assert 0 < box.left() < box.right() < pix.width() and 0 <= box.top() < box.bottom() <= pix.height()
    option = QStyleOptionViewItem()
    gallery.itemDelegate().initStyleOption(option, index)
    option.rect = gallery.visualRect(index).translated(-gallery.visualRect(index).topLeft())
    image = QImage(option.rect.size(), QImage.Format.Format_RGB32)
    painter = QPainter(image)
    gallery.itemDelegate().paint(painter, option, index)
    painter.end()
    x0 = 6 + (GALLERY_PX - pix.width()) // 2  # where the delegate puts the crop in the tile
    y0 = 6 + (GALLERY_PX - pix.height()) // 2
    y = y0 + int(box.center().y())  # across the tile's middle: the outline at the box's two sides, nowhere else
    outline = [x for x in range(image.width()) if image.pixelColor(x, y).name() == BOX_COLOUR.name()]
    assert outline == [x0 + int(box.left()), x0 + int(box.right())]
