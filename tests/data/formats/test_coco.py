import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inkbench.data  # noqa: F401  (registers the datasets)
from inkbench.data.datasets import DATASETS
from inkbench.data.formats.coco import write_coco
from inkbench.errors import InkbenchError

SMALL = {"page_width": 192, "page_height": 224, "line_heights": (12, 16), "size": 3}


def synthetic(split: str):
    return DATASETS.build("synthetic_pages", split=split, seed=0, **SMALL)


def test_written_pages_read_back_with_the_same_images_boxes_labels_and_texts(
    tmp_path: Path,
) -> None:
    splits = {split: synthetic(split) for split in ("train", "val", "test")}
    assert write_coco(splits, tmp_path / "coco", num_workers=2) == 9
    for split, pages in splits.items():
        read = DATASETS.build("coco", split=split, seed=0, path=str(tmp_path / "coco"))
        assert len(read) == len(pages)
        for i in range(len(pages)):
            want, got = pages[i], read[i]
            assert np.array_equal(got.image, want.image)
            assert np.array_equal(got.boxes, want.boxes) and got.boxes.dtype == np.float32
            assert np.array_equal(got.labels, want.labels) and got.texts == want.texts
        assert read.source(0).endswith(f"images/{split}/0.png")


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "coco").mkdir()
    with pytest.raises(InkbenchError, match="already exists"):
        write_coco({"val": synthetic("val")}, tmp_path / "coco", n=1)


def page_file(folder: Path, name: str, size: tuple[int, int] = (40, 30)) -> dict:
    Image.new("L", size, 255).save(folder / name)
    return {"file_name": name, "width": size[0], "height": size[1]}


def write_json(path: Path, images: list[dict], notes: list[dict], categories: list[dict]) -> None:
    images = [{"id": i, **image} for i, image in enumerate(images)]
    notes = [{"id": i, **note} for i, note in enumerate(notes)]
    document = {"info": {}, "images": images, "annotations": notes, "categories": categories}
    path.write_text(json.dumps(document))


def test_one_file_is_split_by_a_stable_hash_of_file_names_and_categories_can_be_mapped(
    tmp_path: Path,
) -> None:
    images = [page_file(tmp_path, f"p{i}.png") for i in range(40)]
    notes = [
        {"image_id": i, "category_id": 7, "bbox": [1, 2, 10, 5], "utf8_string": f"line {i}"}
        for i in range(40)
    ] + [{"image_id": i, "category_id": 9, "bbox": [0, 0, 3, 3]} for i in range(40)]
    categories = [{"id": 7, "name": "textline"}, {"id": 9, "name": "figure"}]
    write_json(tmp_path / "annotations.json", images, notes, categories)
    options = {"path": str(tmp_path), "categories": {"textline": "line", "figure": "skip"}}
    splits = {
        s: DATASETS.build("coco", split=s, seed=s == "val", **options)
        for s in ("train", "val", "test")
    }
    names = {s: {Path(d.source(i)).name for i in range(len(d))} for s, d in splits.items()}
    assert sum(len(n) for n in names.values()) == 40 and len(names["train"]) > len(names["val"])
    assert not names["train"] & names["val"] and not names["val"] & names["test"]
    page = splits["train"][0]
    assert page.labels.tolist() == [0] and page.boxes.tolist() == [[1, 2, 11, 7]]
    assert page.texts[0].startswith("line ")
    again = DATASETS.build("coco", split="val", seed=5, **options)
    assert [again.source(i) for i in range(len(again))] == [
        splits["val"].source(i) for i in range(len(splits["val"]))
    ]


def bad_folder(tmp_path: Path, **change: object) -> Path:
    images = [page_file(tmp_path, "a.png")]
    notes = [{"image_id": 0, "category_id": 1, "bbox": [1, 1, 5, 5]}]
    categories = [{"id": 1, "name": "line"}]
    parts = {"images": images, "annotations": notes, "categories": categories, **change}
    write_json(
        tmp_path / "annotations.json", parts["images"], parts["annotations"], parts["categories"]
    )
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"categories": [{"id": 1, "name": "paragraph"}]},
            "category 'paragraph' is not one of line, word",
        ),
        (
            {"annotations": [{"image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5]}]},
            "image_id 3 is not in images",
        ),
        (
            {"annotations": [{"image_id": 0, "category_id": 2, "bbox": [1, 1, 5, 5]}]},
            "category_id 2 is not in categories",
        ),
        (
            {"annotations": [{"image_id": 0, "category_id": 1, "bbox": [30, 1, 20, 5]}]},
            "lies outside image 0",
        ),
        ({"annotations": [{"image_id": 0, "category_id": 1, "bbox": [1, 1, 0, 5]}]}, "has no area"),
        (
            {"annotations": [{"image_id": 0, "category_id": 1, "bbox": [1, 1]}]},
            "annotations.0.bbox",
        ),
        (
            {"images": [{"file_name": "../a.png", "width": 40, "height": 30}]},
            "'../a.png' is outside",
        ),
    ],
)
def test_bad_coco_files_fail_with_one_line_naming_the_file(
    tmp_path: Path, change: dict, message: str
) -> None:
    folder = bad_folder(tmp_path, **change)
    with pytest.raises(InkbenchError) as error:
        for split in ("train", "val", "test"):
            DATASETS.build("coco", split=split, seed=0, path=str(folder))
    text = str(error.value)
    assert message in text and "\n" not in text
    assert "annotations.json" in text or "data." in text


def test_a_split_layout_needs_every_split_file_and_sizes_must_match(tmp_path: Path) -> None:
    write_json(tmp_path / "train.json", [page_file(tmp_path, "a.png")], [], [])
    with pytest.raises(InkbenchError, match=r"no val\.json"):
        DATASETS.build("coco", split="train", seed=0, path=str(tmp_path))
    for split in ("val", "test"):
        write_json(
            tmp_path / f"{split}.json", [{**page_file(tmp_path, "b.png"), "width": 41}], [], []
        )
    assert len(DATASETS.build("coco", split="train", seed=0, path=str(tmp_path))[0].boxes) == 0
    with pytest.raises(InkbenchError, match="is 40 x 30 but the file says 41 x 30"):
        DATASETS.build("coco", split="val", seed=0, path=str(tmp_path))[0]
    (tmp_path / "test.json").write_text("{not json")
    with pytest.raises(InkbenchError, match=r"test\.json:1: not JSON"):
        DATASETS.build("coco", split="test", seed=0, path=str(tmp_path))


def test_unreadable_pages_are_found_before_training_and_can_be_skipped(tmp_path: Path) -> None:
    images = [page_file(tmp_path, f"p{i}.png") for i in range(40)]
    write_json(tmp_path / "annotations.json", images, [], [])
    train = DATASETS.build("coco", split="train", seed=0, path=str(tmp_path))
    broken = train.paths[1]
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    with pytest.raises(InkbenchError) as error:
        train.verified(0, "coco train split")
    assert str(error.value).startswith(f"{tmp_path / 'annotations.json'}: image ")
    assert str(broken) in str(error.value) and "\n" not in str(error.value)
    skipping = DATASETS.build("coco", split="train", seed=0, path=str(tmp_path), skip_corrupt=True)
    kept = skipping.verified(0, "coco train split")
    assert len(kept) == len(train) - 1 and str(broken) not in {
        kept.source(i) for i in range(len(kept))
    }
    small = DATASETS.build("coco", split="train", seed=0, path=str(tmp_path), max_pixels=1000)
    with pytest.raises(InkbenchError, match="over the limit of 1,000 pixels"):
        small.verified(0, "coco train split")
