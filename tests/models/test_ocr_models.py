"""Every registered OCR model: output shape, one backward pass, and overfitting one batch.

Parametrized over the registry, so a model is tested the day it is registered; ``TINY``
holds small options that keep the tests fast (a model without an entry runs at defaults).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from conftest import TINY_OCR
from inkbench.config import validate_config
from inkbench.data.charset import Charset
from inkbench.data.lines import LineBatch, collate_lines, line_to_tensor
from inkbench.models import MODELS
from inkbench.models.registry import model_objective
from inkbench.tasks import build_task

TINY = TINY_OCR
TEXTS = ["ab", "ba c", "cab", "b"]


def tiny_task(name: str, model: dict[str, object] | None = None, **task: object):
    cfg = validate_config(
        {
            "seed": 0,
            "data": {"name": "folder", "path": "unused", "charset": "abc "},
            "model": {"name": name, **TINY.get(name, {}), **(model or {})},
            "task": {"name": model_objective(name), "max_length": 8, **task},
            "optim": {"lr": 0.01, "scheduler": "none"},
        }
    )
    torch.manual_seed(0)
    return build_task(cfg)


def line_batch(texts: list[str]) -> LineBatch:
    """Lines drawn in PIL's default font, encoded with the tiny charset."""
    font = ImageFont.load_default(size=22)
    charset = Charset("abc ")
    items = []
    for text in texts:
        image = Image.new("L", (int(font.getlength(text)) + 12, 32), 255)
        ImageDraw.Draw(image).text((4, 4), text, font=font, fill=0)
        items.append((line_to_tensor(np.asarray(image)), charset.encode(text), text))
    return collate_lines(items)


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_forward_shape(name: str) -> None:
    task = tiny_task(name)
    model = task.model.eval()
    images = torch.rand(2, 1, 32, 48)
    classes = type(task).num_classes(task.charset)
    if model_objective(name) == "ctc":
        assert model(images).shape == (48 // model.width_stride, 2, classes)
        assert model.output_lengths(torch.tensor([48, 20])).tolist() == [12, 5]
    else:
        tokens = torch.full((2, 5), 1, dtype=torch.long)
        assert model(images, tokens, torch.tensor([48, 20])).shape == (2, 5, classes)
        free = model(images)  # free running: one step per decoded token
        assert free.shape[0] == 2 and free.shape[2] == classes
        assert 1 <= free.shape[1] <= 48 // model.width_stride


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_one_backward_reaches_every_parameter(name: str) -> None:
    task = tiny_task(name)
    loss = task.compute_loss(line_batch(TEXTS))
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in task.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_overfits_one_batch(name: str) -> None:
    task = tiny_task(name)
    batch = line_batch(TEXTS)
    optimizer = torch.optim.Adam(task.parameters(), lr=0.01)
    task.train()
    for _ in range(300):
        optimizer.zero_grad()
        task.compute_loss(batch).backward()
        optimizer.step()
    task.eval()
    with torch.no_grad():
        assert task.transcribe(batch.images, batch.widths) == TEXTS


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
@pytest.mark.parametrize("rnn", ["lstm", "gru"])
def test_attention_variants_learn(attention: str, rnn: str) -> None:
    task = tiny_task("attention", {"attention": attention, "rnn": rnn})
    batch = line_batch(TEXTS)
    optimizer = torch.optim.Adam(task.parameters(), lr=0.01)
    first = float(task.compute_loss(batch))
    for _ in range(30):
        optimizer.zero_grad()
        task.compute_loss(batch).backward()
        optimizer.step()
    assert float(task.compute_loss(batch)) < 0.5 * first


#: (height, width) of line images narrower or shorter than a model's stride once fitted to
#: data.height: a 1-pixel-wide sliver, a tall thin crop, a speck, a 1-pixel-tall strip.
ODD_LINES = [(40, 1), (100, 1), (1, 1), (32, 3), (64, 5), (1, 40)]


@pytest.mark.parametrize("name", MODELS.names("ocr"))
def test_lines_narrower_than_the_stride_are_read(name: str) -> None:
    from inkbench.evaluation.evaluate import Recognizer

    task = tiny_task(name).eval()
    assert task.model.width_stride > 1
    recognizer = Recognizer(task, task.cfg, torch.device("cpu"))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ODD_LINES]
    # One line per batch: a batch of narrow lines only has no wider line to be padded to.
    texts = recognizer.transcribe(images, batch_size=1)
    assert len(texts) == len(ODD_LINES) and all(set(t) <= set("abc ") for t in texts)


@pytest.mark.parametrize("name", ["line_cnn", "line_cnn_lstm"])
@pytest.mark.parametrize("window_stride", [8, 16])
def test_configured_strides_are_padded_to(name: str, window_stride: int) -> None:
    task = tiny_task(name, {"window_width": 16, "window_stride": window_stride}).eval()
    assert task.model.width_stride == window_stride
    for width in range(1, window_stride + 1):
        with torch.no_grad():
            log_probs = task(torch.rand(1, 1, 32, width))
        assert log_probs.shape[0] == 1  # one output step for a line up to one stride wide
