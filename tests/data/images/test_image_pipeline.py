"""From dataset images to batches: transforms, per-item seeding, classes and channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from conftest import SHAPES, tiny_cls_config, write_image_folder
from inkbench.config import TransformsConfig, validate_config
from inkbench.data.images.datamodule import ImageDataModule, image_loader
from inkbench.data.images.transforms import check_tta, image_transform, tta_transform
from inkbench.errors import InkbenchError


def framed(size: int = 40, border: int = 4) -> Image.Image:
    """A black gray image with a white frame ``border`` pixels wide."""
    image = np.zeros((size, size), np.uint8)
    image[:border], image[-border:], image[:, :border], image[:, -border:] = 255, 255, 255, 255
    return Image.fromarray(image)


def test_eval_transform_resizes_and_center_crops() -> None:
    whole = image_transform(TransformsConfig(size=32), train=False)(framed())
    assert whole.shape == (1, 32, 32) and whole.dtype == torch.float32
    assert whole.max() == 1.0 and whole[0, 0, 0] == 1.0  # the frame is in the picture
    # 32 / 0.8 = 40: nothing is resized, and the central 32 x 32 leaves the frame out.
    cropped = image_transform(TransformsConfig(size=32, center_crop_fraction=0.8), False)(framed())
    assert cropped.shape == (1, 32, 32) and cropped.max() == 0.0


def test_training_steps_are_random_and_eval_ones_are_not() -> None:
    spec = TransformsConfig(size=32, crop="random", crop_padding=4, rotate=10, erasing=0.5)
    train, evaluate = image_transform(spec, True), image_transform(spec, False)
    image = framed()
    torch.manual_seed(0)
    drawn = [train(image) for _ in range(4)]
    assert any(not torch.equal(drawn[0], d) for d in drawn[1:])
    assert torch.equal(evaluate(image), evaluate(image))
    flipped = image_transform(TransformsConfig(size=8, hflip=1.0), True)
    ramp = Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1)))
    assert torch.equal(flipped(ramp), evaluate_of(ramp).flip(-1))


def test_tta_views_are_the_eval_image_its_mirror_and_torchvisions_crops() -> None:
    ramp = Image.fromarray(np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1)))  # 25 x 20
    flip = tta_transform(TransformsConfig(size=8), "flip")(ramp)
    assert flip.shape == (2, 1, 8, 8) and type(flip) is torch.Tensor
    assert torch.equal(flip[0], evaluate_of(ramp)) and torch.equal(flip[1], flip[0].flip(-1))
    # At 0.875 or less the central crop is the eval image: AlexNet's 10 crops, 224 of 256.
    spec = TransformsConfig(size=8, center_crop_fraction=0.5)
    ten = tta_transform(spec, "ten_crop")(ramp)
    assert ten.shape == (10, 1, 8, 8)
    assert torch.equal(ten[4], image_transform(spec, False)(ramp))
    # TenCrop five-crops the mirrored image: the mirrors of the five crops, left and right swapped.
    assert torch.equal(ten[5:], ten[[1, 0, 3, 2, 4]].flip(-1))
    five = tta_transform(spec, "five_crop")(ramp)
    assert torch.equal(five, ten[:5]) and not torch.equal(five[0], five[1])  # left, right
    # With the whole image in eval (fraction 1), the crops come from a resize by 1 / 0.875.
    wide = tta_transform(TransformsConfig(size=8), "five_crop")(ramp)
    corner = v2.functional.resize(v2.functional.to_image(ramp), 9)[..., :8, :8]
    assert torch.equal(wide[0], v2.functional.to_dtype(corner, torch.float32, scale=True))
    with pytest.raises(InkbenchError, match=r"^--tta: expected one of none, flip, five_crop"):
        check_tta("mirror", "--tta")


def evaluate_of(image: Image.Image) -> torch.Tensor:
    return image_transform(TransformsConfig(size=8), False)(image)


def module(data: Path, **changes: object) -> ImageDataModule:
    raw = tiny_cls_config(data)
    raw["data"].update(changes)
    return ImageDataModule(validate_config(raw, "test"))


def test_classes_and_channels_come_from_the_training_split(image_folder: Path) -> None:
    data = module(image_folder)
    assert data.cfg.data.classes is None
    data.setup("fit")
    assert data.cfg.data.classes == list(SHAPES) and data.cfg.data.channels == 3
    assert data.class_counts().tolist() == [12, 12, 12]
    gray = module(image_folder, channels=1, classes=["square", "circle", "cross", "star"])
    batch = next(iter(gray.val_dataloader()))
    assert batch.images.shape == (6, 1, 16, 16)
    # Labels follow the configured class order, matched by name.
    names = [Path(gray.split("val").source(i)).parent.name for i in range(len(gray.split("val")))]
    order = ["square", "circle", "cross", "star"]
    assert gray.split("val").labels.tolist() == [order.index(n) for n in names]


def test_a_class_the_run_does_not_have_is_an_error(image_folder: Path) -> None:
    data = module(image_folder, classes=["circle", "cross"])
    with pytest.raises(InkbenchError, match="the train split has class 'square', which is not one"):
        data.setup("fit")


def test_random_transforms_depend_on_epoch_and_index_only(image_folder: Path) -> None:
    data = module(image_folder, transforms={"size": 16, "crop": "random", "crop_padding": 3})
    data.setup("fit")
    items = data.split("train")
    assert torch.equal(items[(1, 5)][0], items[(1, 5)][0])
    assert not torch.equal(items[(1, 5)][0], items[(2, 5)][0])
    epochs = []
    for workers in (0, 2):  # the same batches whichever process loads them
        loader = image_loader(items, 6, True, seed=5, num_workers=workers)
        loader.batch_sampler.sampler.set_epoch(3)  # as Lightning does
        epochs.append([batch.images for batch in loader])
    assert len(epochs[0]) == 6  # 36 images, 6 per batch
    assert all(torch.equal(a, b) for a, b in zip(*epochs, strict=True))


def test_cache_and_subset(image_folder: Path) -> None:
    lazy, cached = module(image_folder), module(image_folder, cache=True)
    for data in (lazy, cached):
        data.setup("fit")
    assert cached.split("val").cached and not lazy.split("val").cached
    assert torch.equal(lazy.split("val")[3][0], cached.split("val")[3][0])
    small = module(image_folder, subset=7)
    assert len(small.split("train")) == 7 and len(small.split("val")) == 12
    with pytest.raises(InkbenchError, match=r"subset: 99 is more than the 36 training images"):
        module(image_folder, subset=99).setup("fit")


def test_pixel_statistics_of_the_training_images(image_folder: Path) -> None:
    from inkbench.data.stats import pixel_stats

    cfg = validate_config(tiny_cls_config(image_folder), "test")
    stats = pixel_stats(cfg, chunk=5)
    data = module(image_folder)
    items = data.split("train")
    pixels = torch.stack([image_transform(data.cfg.data.transforms, False)(items.decode(i))
                          for i in range(len(items))])  # fmt: skip
    assert stats["images"] == 36 and stats["pixels"] == 36 * 16 * 16
    expected_mean = pixels.double().mean(dim=(0, 2, 3))
    expected_std = pixels.double().std(dim=(0, 2, 3), unbiased=False)
    assert np.allclose(stats["mean"], expected_mean.numpy())
    assert np.allclose(stats["std"], expected_std.numpy())


def test_one_class_cannot_train_a_classifier(tmp_path: Path) -> None:
    root = tmp_path / "one"
    for split in ("train", "val", "test"):
        write_image_folder(root / split, 2)
        for shape in SHAPES[1:]:
            for image in (root / split / shape).iterdir():
                image.unlink()
            (root / split / shape).rmdir()
    with pytest.raises(InkbenchError, match=r"has 1 class\(es\) \(circle\); a classifier needs 2"):
        module(root).setup("fit")
