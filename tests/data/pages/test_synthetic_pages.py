import itertools

import numpy as np
import pytest

import inkbench.data  # noqa: F401  (registers the datasets)
from inkbench.data.datasets import DATASETS
from inkbench.data.pages.page import CLASSES, Page
from inkbench.data.synth.fonts import FONT_SPLITS
from inkbench.errors import InkbenchError

SMALL = {"width": 256, "height": 320, "line_heights": (12, 18)}


def build(split: str = "train", seed: int = 0, **options: object):
    return DATASETS.build(
        "synthetic_pages", split=split, seed=seed, **{"size": 6, **SMALL, **options}
    )


def lines_and_words(page: Page) -> list[tuple[np.ndarray, str, np.ndarray, list[str]]]:
    """Per line: its box, its text, its word boxes and word texts (words follow lines in
    reading order, so a line of k words owns the next k word boxes)."""
    line_ids = np.flatnonzero(page.labels == CLASSES.index("line"))
    word_ids = list(np.flatnonzero(page.labels == CLASSES.index("word")))
    out = []
    for i in line_ids:
        n = len(page.texts[i].split(" "))
        mine, word_ids = word_ids[:n], word_ids[n:]
        out.append((page.boxes[i], page.texts[i], page.boxes[mine], [page.texts[j] for j in mine]))
    assert not word_ids, "words left over after the last line"
    return out


def inside(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which True pixels of ``mask`` lie in at least one of ``boxes`` (x0, y0, x1, y1)."""
    covered = np.zeros_like(mask)
    for x0, y0, x1, y1 in boxes.astype(int):
        covered[y0:y1, x0:x1] = True
    return mask & ~covered


@pytest.mark.parametrize("split", ["train", "test_shift"])
def test_every_ink_pixel_is_in_its_word_and_line_box_and_lines_do_not_overlap(split: str) -> None:
    pages = build(split, ruled=0.5, shading=0.5)
    for index in range(len(pages)):
        drawn = pages.drawn(index)
        page, ink = drawn.page, drawn.ink > 0
        assert page.image.shape == (320, 256) and page.image.dtype == np.uint8
        assert page.boxes.dtype == np.float32 and page.labels.dtype == np.int64
        assert len(page.texts) == len(page.boxes) == len(page.labels) > 0
        lines = lines_and_words(page)
        assert len(lines) >= 3
        line_boxes = np.stack([box for box, _, _, _ in lines])
        assert not inside(ink, line_boxes).any()
        assert not inside(ink, page.boxes[page.labels == 1]).any()
        for box, text, word_boxes, words in lines:
            assert " ".join(words) == text and all(words)
            assert (word_boxes[:, :2] >= box[:2]).all() and (word_boxes[:, 2:] <= box[2:]).all()
            # Tight: the line box's outer rows and columns all touch ink.
            x0, y0, x1, y1 = box.astype(int)
            edges = (ink[y0, x0:x1], ink[y1 - 1, x0:x1], ink[y0:y1, x0], ink[y0:y1, x1 - 1])
            assert all(edge.any() for edge in edges)
        for a, b in itertools.pairwise(line_boxes):
            assert a[3] <= b[1]  # each line below the one before
        assert (line_boxes >= 0).all() and (line_boxes[:, 2] <= 256).all()
        assert (line_boxes[:, 3] <= 320).all()


def test_on_a_clean_page_every_dark_pixel_is_inside_a_line_box() -> None:
    pages = build(distortion=0.0, ruled=0.0, shading=0.0)
    for index in range(3):
        page = pages[index]
        paper = np.median(page.image)
        dark = page.image.astype(int) < paper - 30
        assert dark.sum() > 500
        assert not inside(dark, page.boxes[page.labels == 0]).any()


def test_ruled_pages_have_dark_rows_outside_the_text() -> None:
    page = build(distortion=0.0, ruled=1.0, shading=0.0)[0]
    paper = np.median(page.image)
    faint = page.image.astype(int) < paper - 10
    free = inside(faint, page.boxes[page.labels == 0])
    full_rows = (free.mean(axis=1) > 0.5).sum()
    assert full_rows >= 3


def test_pages_are_a_function_of_seed_split_and_index() -> None:
    first = build("val")
    backwards = [build("val")[i] for i in reversed(range(6))][::-1]
    for i, page in enumerate(backwards):
        again = first[i]
        assert page.image.tobytes() == again.image.tobytes()
        assert np.array_equal(page.boxes, again.boxes) and page.texts == again.texts
    other = build("val", seed=1)[0]
    assert other.texts != first[0].texts


def test_fonts_follow_the_line_splits_and_never_cross_them() -> None:
    fonts = {
        split: {build(split, size=40).source(i) for i in range(40)}
        for split in ("train", "val", "test", "test_shift")
    }
    for split, used in fonts.items():
        assert used == set(FONT_SPLITS[split])
    assert not fonts["train"] & (fonts["val"] | fonts["test"])
    assert not fonts["val"] & fonts["test"]


def test_split_sizes_default_per_split_and_eval_size_sets_the_others() -> None:
    built = lambda split, **o: DATASETS.build("synthetic_pages", split=split, seed=0, **o)  # noqa: E731
    assert [len(built(s)) for s in ("train", "val", "test_shift")] == [2000, 200, 200]
    assert [len(built(s, size=30, eval_size=5)) for s in ("train", "test")] == [30, 5]
    assert len(built("val", size=7)) == 7


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"size": -1}, "data.size"),
        ({"eval_size": -2}, "data.eval_size"),
        ({"width": 32}, "data.width"),
        ({"line_heights": (20, 10)}, "data.line_heights"),
        ({"line_heights": (4, 10)}, "data.line_heights"),
        ({"line_heights": (30, 200)}, "data.line_heights"),
        ({"ruled": 1.5}, "data.ruled"),
        ({"shading": -0.1}, "data.shading"),
        ({"distortion": -1.0}, "data.distortion"),
    ],
)
def test_bad_options_fail_with_one_line_naming_the_key(options: dict, key: str) -> None:
    with pytest.raises(InkbenchError) as error:
        DATASETS.build("synthetic_pages", split="val", seed=0, **options)
    assert str(error.value).startswith(key) and "\n" not in str(error.value)


def test_options_are_type_checked_by_the_registry() -> None:
    with pytest.raises(InkbenchError, match=r"^data\.width: .*'wide'"):
        DATASETS.validate("synthetic_pages", {"width": "wide"}, "data", ("split", "seed"))
    parsed = DATASETS.validate(
        "synthetic_pages", {"line_heights": [10, 14]}, "data", ("split", "seed")
    )
    assert parsed == {"line_heights": (10, 14)}
