"""Cut and paste (inspect.paste): a hand-built convolution whose change is computed by hand,
and a trained run whose units outside the paste's receptive field change by exactly 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.inspect.attribution import load_run_model
from inkbench.inspect.paste import patch_swap
from inkbench.runs.store import Run


def hand_conv() -> nn.Sequential:
    """3x3 valid convolution, no bias: channel 0 sums its window, channel 1 doubles its centre."""
    conv = nn.Conv2d(1, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = 1.0
        conv.weight[1, 0, 1, 1] = 2.0
    return nn.Sequential(conv, nn.ReLU())


def test_hand_built_conv_change_is_computed_by_hand() -> None:
    a, b = torch.ones(1, 8, 8), torch.zeros(1, 8, 8)
    # A's 2x2 box of ones lands on B's pixels (3..4, 3..4); the 6x6 output (i, j) reads input
    # rows i..i+2 and columns j..j+2, which hold 0, 1, 2, 2, 1, 0 pasted rows for i = 0..5.
    found = patch_swap(hand_conv(), a, b, (0, 0, 2, 2), (3, 3), "0")
    overlap = np.array([0, 1, 2, 2, 1, 0], dtype=np.float32)
    centre = np.zeros((6, 6), dtype=np.float32)
    centre[2:4, 2:4] = 2.0
    np.testing.assert_array_equal(found.change[0], np.outer(overlap, overlap))
    np.testing.assert_array_equal(found.change[1], centre)
    # Covered: the 4x4 outputs whose 3x3 window overlaps the paste, in both channels (channel
    # 1's zero weights still read the pixels).
    covered = np.zeros((6, 6), dtype=bool)
    covered[1:5, 1:5] = True
    np.testing.assert_array_equal(found.covered, np.stack([covered, covered]))
    assert found.outside == 0.0 and found.covered_box() == (1, 1, 5, 5)
    top = found.channels()
    assert [row["channel"] for row in top] == [0, 1]
    assert top[0]["mean_abs"] == pytest.approx(np.outer(overlap, overlap).sum() / 16)
    assert top[1]["max_abs"] == 2.0 and top[1]["covered"] == 16
    assert found.to_json()["heat"][2][2] == 4.0 + 2.0  # |change| summed over channels


def test_the_change_after_a_relu_is_exactly_zero_outside() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(5, 4, 3)
    )
    a, b = torch.rand(3, 12, 12), torch.rand(3, 16, 16)
    found = patch_swap(net, a, b, (2, 3, 5, 7), (9, 1), "3", channel=2)
    # Input rows 9..11 reach conv rows 8..12 (padding 1), pooled rows 4..6, so output rows
    # 2..5 of 6; columns 1..4 reach conv columns 0..5, pooled 0..2, so output columns 0..2.
    assert found.covered_box() == (2, 0, 6, 3)
    assert found.outside == 0.0 and np.abs(found.change[found.covered]).max() > 0
    np.testing.assert_array_equal(found.heat(), found.change[2])


def test_small_cnn_run_units_outside_the_paste_do_not_move(cls_run: Run) -> None:
    loaded = load_run_model(cls_run)
    shapes = cls_run.path.parent.parent / "shapes" / "test"
    a = loaded.read(shapes / "cross" / "001.png")
    b = loaded.read(shapes / "square" / "002.png")
    found = patch_swap(loaded.model, a, b, (4, 4, 10, 10), (9, 2), "features.3", loaded.root)
    # features.3 is the third 3x3 convolution (padding 1), after a 2x2 max-pool: its row i of 8
    # reads input rows 2i - 4 .. 2i + 5. The paste fills rows 9..14 and columns 2..7.
    rows = [i for i in range(8) if 2 * i - 4 <= 14 and 2 * i + 5 >= 9]
    cols = [j for j in range(8) if 2 * j - 4 <= 7 and 2 * j + 5 >= 2]
    expected = np.zeros((8, 8), dtype=bool)
    expected[np.ix_(rows, cols)] = True
    np.testing.assert_array_equal(found.positions(), expected)
    assert found.covered.all(0)[expected].all()  # every channel shares the field
    assert found.outside == 0.0
    assert np.abs(found.change[found.covered]).max() > 1e-3
    with torch.no_grad():  # the same answer without the result's bookkeeping
        direct = [
            loaded.root.features[:4](loaded.model[0](image[None]))[0].numpy()
            for image in (b, torch.from_numpy(found.pasted))
        ]
    np.testing.assert_allclose(found.change, direct[1] - direct[0], atol=1e-6)


def test_same_content_changes_nothing() -> None:
    image = torch.rand(1, 8, 8)
    found = patch_swap(hand_conv(), image, image, (2, 2, 4, 5), (2, 2), "0")
    assert found.covered.any() and not found.change.any()


@pytest.mark.parametrize(
    ("box", "at", "layer", "channel", "message"),
    [
        ((3, 0, 3, 2), (0, 0), "0", None, r"--box 3,0,3,2: empty"),
        ((0, 0, 9, 2), (0, 0), "0", None, r"--box 0,0,9,2: outside image A.* 8 x 8"),
        ((0, 0, 2, 2), (7, 0), "0", None, r"--at 7,0: a 2 x 2 box there overflows image B"),
        ((0, 0, 2, 2), (0, 0), "conv9", None, r"layer 'conv9': not a module"),
        ((0, 0, 2, 2), (0, 0), "0", 2, r"channel 2: out of range for layer '0' \(0 to 1\)"),
    ],
)
def test_bad_input(box, at, layer: str, channel, message: str) -> None:
    with pytest.raises(InkbenchError, match=message):
        patch_swap(
            hand_conv(), torch.ones(1, 8, 8), torch.zeros(1, 8, 8), box, at, layer, None, channel
        )


def test_a_layer_without_a_map_is_refused() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(InkbenchError, match=r"layer '1': outputs \(3,\) per image, not a"):
        patch_swap(net, torch.ones(1, 8, 8), torch.zeros(1, 8, 8), (0, 0, 2, 2), (0, 0), "1")
