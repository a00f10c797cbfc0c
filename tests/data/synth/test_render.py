import numpy as np
import pytest

from inkbench.data.synth.render import render_line
from inkbench.data.synth.style import STYLE_KITS, Layout, Paper, Pen, Style, draw_style

PLAIN_PEN = Pen("plain", weights=(0,), gamma=(1.0, 1.0), ink=(20.0, 20.0), blur=(0.0, 0.0))
PLAIN_PAPER = Paper("plain", tone=(240.0, 240.0), texture=(0.0, 0.0), noise=(0.0, 0.0))
TIGHT = Layout("tight")
TEXT = "Ruled lines 42"


def draw(
    pen: Pen = PLAIN_PEN, paper: Paper = PLAIN_PAPER, layout: Layout = TIGHT, seed: int = 3
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return render_line(TEXT, "kalam", rng, Style(pen, paper, layout), 32, distortion=0.0)


def test_margins_add_empty_paper_of_the_drawn_size_around_the_text() -> None:
    tight = draw()
    wide = draw(layout=Layout("wide", vertical=(0.5, 0.5), horizontal=(1.0, 1.0)))
    assert tight.shape[0] == 32
    assert wide.shape == (32 + 2 * 16, tight.shape[1] + 2 * 32)
    assert np.array_equal(wide[16:-16, 32:-32], tight)
    border = np.concatenate([wide[:16].ravel(), wide[-16:].ravel(), wide[:, :32].ravel()])
    assert (border == 240).all()


def test_ruled_paper_draws_a_dark_line_across_the_whole_width() -> None:
    layout = Layout("roomy", vertical=(1.0, 1.0))
    plain = draw(layout=layout)
    ruled = draw(
        paper=Paper("ruled", tone=(240, 240), texture=(0, 0), noise=(0, 0), rule=(1.0, (60, 60))),
        layout=layout,
    )
    full_rows = lambda image: np.flatnonzero((image < 200).mean(axis=1) > 0.9)  # noqa: E731
    assert full_rows(plain).size == 0
    above, baseline = full_rows(ruled)  # the line written on, and the one above it
    assert 32 + 16 <= baseline <= 32 + 34  # at the text's baseline, below its middle
    assert 1.3 * 32 <= baseline - above <= 1.8 * 32 + 2


def test_scanner_edge_darkens_one_side_only() -> None:
    image = draw(
        paper=Paper("scan", tone=(240, 240), texture=(0, 0), noise=(0, 0), edge=1.0),
        layout=Layout("roomy", vertical=(0.5, 0.5), horizontal=(1.0, 1.0)),
    )
    sides = [image[:, :2].mean(), image[:, -2:].mean(), image[:2].mean(), image[-2:].mean()]
    dark = [i for i, side in enumerate(sides) if side < 200]
    assert len(dark) == 1
    opposite = dark[0] + 1 if dark[0] % 2 == 0 else dark[0] - 1
    assert sides[opposite] > 235


def test_pens_span_hairline_to_marker() -> None:
    kit = {pen.name: pen for pen in STYLE_KITS["train"].pens}
    ink = {name: int((draw(pen=kit[name]) < 128).sum()) for name in ("fineliner", "marker")}
    assert ink["marker"] > 1.5 * ink["fineliner"]


def test_scan_paper_blurs_and_compresses() -> None:
    clean = draw(layout=Layout("roomy", vertical=(0.5, 0.5)))
    scanned = draw(
        paper=Paper("scan", tone=(240, 240), texture=(0, 0), jpeg=(30, 30), resolution=(0.5, 0.5)),
        layout=Layout("roomy", vertical=(0.5, 0.5)),
    )
    assert scanned.shape == clean.shape
    sharpness = [float(np.abs(np.diff(im.astype(int), axis=1)).mean()) for im in (clean, scanned)]
    assert sharpness[1] < 0.8 * sharpness[0]


@pytest.mark.parametrize("kit", ["train", "shift"])
def test_every_style_of_a_kit_renders_readable_ink(kit: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        style = draw_style(STYLE_KITS[kit], rng)
        image = render_line(TEXT, "caveat", rng, style, 32)
        assert image.dtype == np.uint8 and image.shape[0] >= 32
        assert np.percentile(image, 1) < np.median(image) - 40, style.name
