"""Training-time augmentation: train split only, labels kept, reproducible; the preview grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from inkbench.cli import main
from inkbench.config import AugmentConfig, load_config
from inkbench.data.augment import LineAugment, build_augment
from inkbench.data.datamodule import LineDataModule
from inkbench.data.preview import augment_grid
from inkbench.tasks.recognition import CTCRecognition


def test_off_by_default() -> None:
    assert build_augment(AugmentConfig()) is None


def test_geometric_augmentation_keeps_the_ink_of_both_ends() -> None:
    line = torch.zeros(1, 32, 200)
    line[:, 4:28, :3] = 1.0  # a stroke touching the left edge
    line[:, 4:28, -3:] = 1.0  # and one touching the right edge
    augment = LineAugment(AugmentConfig(shear=20, scale=0.1, rotate=1))
    torch.manual_seed(0)
    for _ in range(20):
        out = augment(line)
        assert out.shape[-1] == 200 + 2 * augment.margin(32, 200)
        # Paper margins left and right: no ink was pushed off either end.
        assert out[..., :2].max() < 0.05 and out[..., -2:].max() < 0.05
        assert (
            out[..., : out.shape[-1] // 2].sum() > 50 and out[..., out.shape[-1] // 2 :].sum() > 50
        )


def test_bf16_autocast_does_not_change_the_augmentation() -> None:
    """Sampling grids computed in bf16 would move pixels: the batch augments in float32."""
    images = torch.rand(3, 1, 32, 300)
    widths = torch.tensor([300, 250, 120])
    augment = LineAugment(AugmentConfig(shear=8, scale=0.08, rotate=1, elastic=10))
    torch.manual_seed(0)
    plain, plain_widths = augment.batch(images, widths)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, mixed_widths = augment.batch(images, widths)
    assert mixed.dtype == torch.float32 and torch.equal(mixed_widths, plain_widths)
    assert torch.allclose(mixed, plain, atol=1e-6)


def test_training_step_augments_and_validation_does_not(tiny_config_file: Path) -> None:
    cfg = load_config(tiny_config_file, ["data.augment.shear=10", "data.augment.contrast=0.3"])
    data = LineDataModule(cfg)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    task = CTCRecognition(cfg)
    seen: list[torch.Tensor] = []
    task.compute_loss = lambda b: seen.append(b.images) or torch.zeros(())
    task.log = lambda *a, **k: None
    torch.manual_seed(1)
    task.training_step(batch, 0)
    torch.manual_seed(1)
    task.training_step(batch, 0)
    task._eval_step = lambda b, stage, rates: seen.append(b.images)
    task.validation_step(batch, 0)
    assert seen[0].shape[-1] > batch.images.shape[-1]  # paper margins for the shear
    assert torch.equal(seen[0], seen[1])  # same seed, same augmentation
    assert seen[2] is batch.images


def test_normalization_applies_to_every_forward(tiny_config_file: Path) -> None:
    plain = load_config(tiny_config_file)
    norm = load_config(tiny_config_file, ["data.normalize.mean=[0.2]", "data.normalize.std=[0.5]"])
    torch.manual_seed(0)
    task = CTCRecognition(norm).eval()
    reference = CTCRecognition(plain, model=task.model).eval()
    images = torch.rand(2, 1, 32, 40)
    assert torch.allclose(task(images), reference((images - 0.2) / 0.5))
    assert list(task.state_dict()) == list(reference.state_dict())  # checkpoints unchanged


def test_preview_augment_draws_a_grid(
    tiny_config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    code = main(["data", "preview", str(tiny_config_file), "data.augment.rotate=2",
                 "--augment", "--n", "2", "--versions", "2", "--out", str(out)])  # fmt: skip
    assert code == 0 and out.stat().st_size > 5000
    # Each line is drawn once as it is and once per augmented version, one above the other.
    heights = {}
    for versions in (1, 3):
        target = tmp_path / f"v{versions}.png"
        cfg = load_config(tiny_config_file, ["data.augment.rotate=2"])
        with Image.open(augment_grid(cfg, target, n=2, versions=versions)) as image:
            heights[versions] = image.height
    assert heights[3] / heights[1] == pytest.approx(8 / 4, rel=0.1)  # 8 rows against 4
    assert main(["data", "preview", str(tiny_config_file), "--augment", "--out", str(out)]) == 2
    assert "error: data.augment: every strength is 0" in capsys.readouterr().err
