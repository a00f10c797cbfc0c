import shutil
from pathlib import Path

import fontpkg
import numpy as np
import pytest
from torch.utils.data import DataLoader

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.data.datasets import DATASETS, PROVIDED_DATASET_ARGS
from inkbench.data.synth.fonts import FONT_SPLITS
from inkbench.data.synth.style import STYLE_KITS
from inkbench.errors import InkbenchError

CHARSET = Charset(DEFAULT_CHARS)


def build(split: str = "train", seed: int = 0, height: int = 32, **options: object):
    sizes = {"train_size": 40, "val_size": 12, "test_size": 12}
    return DATASETS.build(
        "synthetic", split=split, seed=seed, charset=CHARSET, height=height, **sizes, **options
    )


def _identity(item: object) -> object:
    return item


def test_same_item_is_identical_in_a_fresh_dataset_and_in_worker_processes() -> None:
    lines = build("val")
    first = [lines[i] for i in range(len(lines))]
    again = build("val")
    for i in (0, 5, 11):
        image, text = again[i]
        assert text == first[i][1] and image.tobytes() == first[i][0].tobytes()
    loader = DataLoader(lines, batch_size=None, num_workers=2, collate_fn=_identity)
    for (image, text), (expected, label) in zip(loader, first, strict=True):
        assert text == label and np.array_equal(image, expected)


def test_other_index_seed_or_split_gives_another_line() -> None:
    image, text = build()[0]
    for other_image, other_text in (build()[1], build(seed=1)[0], build("test")[0]):
        assert other_text != text
        assert other_image.shape != image.shape or not np.array_equal(other_image, image)


@pytest.mark.parametrize("height", [32, 48])
def test_images_are_uint8_at_least_text_high_dark_ink_on_light_paper(height: int) -> None:
    lines = build(height=height)
    heights = []
    for i in range(12):
        image, text = lines[i]
        assert image.dtype == np.uint8 and image.shape[0] >= height
        assert image.shape[1] >= 4
        assert np.median(image) > image.min() + 60  # mostly paper, some dark ink
        assert not CHARSET.unknown(text) and 5 <= len(text) <= 40
        heights.append(image.shape[0])
    assert min(heights) == height < max(heights)  # tight lines and lines with margins


def test_sources_are_the_split_fonts() -> None:
    for split in ("train", "val", "test", "test_shift"):
        lines = build(split)
        used = {lines.source(i) for i in range(len(lines))}
        assert used == set(FONT_SPLITS[split])


def test_test_shift_is_the_test_text_in_held_out_styles() -> None:
    test, shift = build("test"), build("test_shift", test_shift_size=5)
    assert len(shift) == 5 and len(build("test_shift")) == len(test)  # default: test_size
    train_kit, shift_kit = STYLE_KITS["train"], STYLE_KITS["shift"]
    for part in ("pens", "papers", "layouts"):
        names = {s.name for s in getattr(train_kit, part)}
        assert names.isdisjoint(s.name for s in getattr(shift_kit, part)), part
    for i in range(5):
        (image, text), (shifted, same_text) = test[i], shift[i]
        assert same_text == text and shift.source(i) == test.source(i)
        assert shifted.shape != image.shape or not np.array_equal(shifted, image)
    with pytest.raises(InkbenchError, match="test_shift_size: must be >= 0"):
        build("test_shift", test_shift_size=-1)


def _font_copies(folder: Path, packages: list[str]) -> Path:
    folder.mkdir()
    for package in packages:
        shutil.copy(next(Path(fontpkg.path(package)).parent.glob("*.ttf")), folder)
    return folder


def test_fonts_dir_adds_user_fonts_split_by_family_and_the_run_records_them(
    tmp_path: Path,
) -> None:
    fonts = _font_copies(tmp_path / "fonts", ["kalam", "caveat", "satisfy", "delius"])
    lines = build(fonts_dir=str(fonts))
    user = {str(p.resolve()) for p in fonts.iterdir()}
    split = lines.font_split
    assert set(FONT_SPLITS["train"]) < set(split["train"])
    added = {name: set(split[name]) & user for name in ("train", "val", "test")}
    assert added["train"] and added["val"] and added["test"]
    assert set().union(*added.values()) == user
    assert added["test"] <= set(split["test_shift"])
    user_train = sorted(added["train"])[0]
    assert user_train in {lines.source(i) for i in range(len(lines))}
    image, _ = lines[lines.font_turns.index(user_train)]
    assert image.dtype == np.uint8 and image.shape[0] >= 32


def test_fonts_dir_errors_name_the_key_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(InkbenchError, match=r"data\.fonts_dir: .*missing is not a folder"):
        build(fonts_dir=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InkbenchError, match=r"data\.fonts_dir: no \.ttf or \.otf file"):
        build(fonts_dir=str(tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "font.ttf").write_bytes(b"not a font")
    with pytest.raises(InkbenchError, match=r"font\.ttf: not a readable font"):
        build(fonts_dir=str(broken))
    fonts = _font_copies(tmp_path / "fonts", ["kalam"])
    with pytest.raises(InkbenchError, match=r"Kalam.*\.ttf: cannot draw '\u4e2d'.*data\.charset"):
        DATASETS.build(
            "synthetic",
            split="train",
            seed=0,
            charset=Charset(DEFAULT_CHARS + "\u4e2d"),
            height=32,
            fonts_dir=str(fonts),
        )


def test_label_is_the_text_source_text_and_options_apply() -> None:
    lines = build("test", distortion=0.0, max_chars=12)
    for i in range(4):
        _, text = lines[i]
        assert text == lines.texts.text(i) and len(text) <= 12
    with pytest.raises(IndexError):
        lines[len(lines)]


def test_options_are_validated() -> None:
    provided = PROVIDED_DATASET_ARGS
    assert DATASETS.validate("synthetic", {"distortion": "0.5"}, "data", provided) == {
        "distortion": 0.5
    }
    with pytest.raises(InkbenchError, match=r"data\.distorsion: unknown option"):
        DATASETS.validate("synthetic", {"distorsion": 1}, "data", provided)
    with pytest.raises(InkbenchError, match="distortion: must be >= 0"):
        build(distortion=-1.0)


def test_images_are_pinned() -> None:
    # Guards "the same (seed, index) gives the same image on every machine" beyond one
    # process: a change to fonts, rendering or the RNG stream shows up here.
    import hashlib

    digest = hashlib.sha256()
    for split in ("train", "val", "test", "test_shift"):
        lines = build(split)
        for i in range(3):
            image, text = lines[i]
            digest.update(f"{image.shape}{text}".encode() + image.tobytes())
    assert digest.hexdigest()[:16] == "ae288d8c33c114c6"
