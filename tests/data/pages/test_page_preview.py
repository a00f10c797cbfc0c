from pathlib import Path

import numpy as np
from PIL import Image

from inkbench.data.pages.page import Page
from inkbench.data.pages.preview import COLOURS, dataset_preview, draw_boxes, write_page_preview

PAGE = Page(
    image=np.full((40, 60), 230, np.uint8),
    boxes=np.array([[5, 10, 50, 20], [6, 11, 20, 19]], np.float32),
    labels=np.array([0, 1], np.int64),
    texts=("a line", "a"),
)


def test_boxes_are_outlined_on_their_exact_pixels_in_their_class_colour() -> None:
    drawn = np.asarray(draw_boxes(PAGE))
    line, word = COLOURS
    assert (drawn[10, 5:50] == line).all() and (drawn[19, 5:50] == line).all()
    assert (drawn[10:20, 49] == line).all()
    assert (drawn[11, 6:20] == word).all() and (drawn[11:19, 19] == word).all()
    assert (drawn[20, :] == 230).all() and (drawn[:, 50] == 230).all()  # x1, y1 exclusive


def test_a_preview_sheet_holds_every_page_and_a_dataset_preview_draws_real_pages(
    tmp_path: Path,
) -> None:
    out = write_page_preview([PAGE] * 5, tmp_path / "sheet.png", ["p"] * 5, columns=2)
    with Image.open(out) as sheet:
        assert sheet.size[0] > 2 * 60 and sheet.size[1] > 3 * 40
    options = {"size": 2, "page_width": 160, "page_height": 200, "line_heights": (12, 14)}
    out = dataset_preview("synthetic_pages", options, tmp_path / "pages.png", "val", n=2)
    image = np.asarray(Image.open(out).convert("RGB"))
    assert (image == COLOURS[0]).all(axis=-1).sum() > 100
    assert (image == COLOURS[1]).all(axis=-1).sum() > 100
