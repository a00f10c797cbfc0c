import shutil
from pathlib import Path

import fontpkg
import pytest
from PIL import Image

from inkbench.data.synth.fonts import (
    FONT_SPLITS,
    HERSHEY_FONTS,
    TTF_FONTS,
    TrueTypeFont,
    font_family,
    font_problems,
    load_font,
    user_font_split,
)

LISTED = sorted({font for fonts in FONT_SPLITS.values() for font in fonts})


class CapitalsOnly(TrueTypeFont):
    """Draws lowercase as capitals, like a marker font: labels would lie."""

    def _draw(
        self, char: str, scale: float, weight: int
    ) -> tuple[Image.Image, float, float, float]:
        return super()._draw(char.upper(), scale, weight)


class SmallCapitals(TrueTypeFont):
    """Draws lowercase as smaller capitals."""

    def _draw(
        self, char: str, scale: float, weight: int
    ) -> tuple[Image.Image, float, float, float]:
        return super()._draw(char.upper(), scale * (0.7 if char.islower() else 1.0), weight)


def test_splits_are_disjoint_and_hershey_trains_only() -> None:
    train, val, test, shift = (set(FONT_SPLITS[s]) for s in ("train", "val", "test", "test_shift"))
    assert not (train & val or train & test or val & test or shift & (train | val))
    assert val and test and shift
    assert set(HERSHEY_FONTS) <= train
    assert set(LISTED) == set(TTF_FONTS) | set(HERSHEY_FONTS)  # every installed font is used
    assert all(len(fonts) == len(set(fonts)) for fonts in FONT_SPLITS.values())


def _copy_fonts(folder: Path, names: dict[str, str]) -> list[Path]:
    """Font files of fontpkg packages copied under new names (``new name -> package``)."""
    folder.mkdir(exist_ok=True)
    copies = []
    for new, package in names.items():
        source = next(Path(fontpkg.path(package)).parent.glob("*.ttf"))
        copies.append(folder / new)
        shutil.copy(source, copies[-1])
    return copies


def test_user_fonts_split_by_family_never_across_splits(tmp_path: Path) -> None:
    many = _copy_fonts(
        tmp_path / "many",
        {f"{p}.ttf": p for p in ("kalam", "caveat", "satisfy", "delius", "pacifico")}
        | {"kalam-again.otf": "kalam"},  # a second file of the Kalam family
    )
    split = user_font_split(many)
    assert split["test"] and split["val"] and split["train"]
    where = {font: name for name, fonts in split.items() for font in fonts}
    assert sorted(where) == sorted(map(str, many))  # every file in exactly one split
    assert where[str(many[0])] == where[str(many[-1])]  # one family, one split
    assert user_font_split(list(reversed(many))) == split  # order of discovery is irrelevant
    few = _copy_fonts(tmp_path / "few", {"a.ttf": "kalam", "b.ttf": "caveat"})
    one_split = user_font_split(few)
    assert not one_split["test"] and not one_split["val"]
    assert sorted(one_split["train"]) == sorted(map(str, few))
    assert {font_family(p) for p in few} == {"Kalam", "Caveat"}
    assert load_font(str(few[0]), 20).covers("a")


@pytest.mark.parametrize("name", LISTED)
def test_listed_font_draws_every_char_with_distinct_cases(name: str) -> None:
    assert font_problems(load_font(name, 24)) == []


def test_check_rejects_fonts_that_would_make_labels_lie() -> None:
    path = fontpkg.path("kalam")
    capitals = font_problems(CapitalsOnly("capitals", path, 24))
    assert "draws 'a' like 'A'" in capitals and "draws 'o' like 'O'" in capitals
    assert "draws lowercase as small capitals" in font_problems(SmallCapitals("small", path, 24))
    assert font_problems(load_font("kalam", 24), chars="ab\u4e2d") == ["cannot draw '\u4e2d'"]


def test_glyphs_sit_on_the_baseline() -> None:
    font = load_font("caveat", 20)
    capital, descender = font.glyph("H"), font.glyph("p")
    assert capital.top < 0 < capital.top + capital.ink.shape[0] + 1
    assert descender.top + descender.ink.shape[0] > capital.top + capital.ink.shape[0]
    assert font.glyph("H", angle=4.0) is font.glyph("H", angle=4.0)  # cached


def test_unknown_font_lists_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: caveat"):
        load_font("comic-sans", 20)
