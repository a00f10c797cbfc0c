"""The classification task: accuracy metrics, MixUp/CutMix targets, auxiliary losses."""

from __future__ import annotations

import warnings

import pytest
import torch

from inkbench.config import validate_config
from inkbench.errors import InkbenchError
from inkbench.tasks import ImageClassification, build_task
from inkbench.tasks.classification import batch_mix
from inkbench.tasks.metrics import classification_metrics


def task_for(model: dict, classes: int = 6, **task: object) -> ImageClassification:
    cfg = validate_config(
        {
            "task": {"name": "classification", **task},
            "data": {
                "name": "digits",
                "classes": [f"c{i}" for i in range(classes)],
                "channels": 1,
            },
            "model": model,
        },
        "test",
    )
    built = build_task(cfg)
    assert isinstance(built, ImageClassification)
    return built


def test_top_k_accuracy_per_class_and_confusion() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(50, 7), torch.randint(0, 7, (50,))
    scores = classification_metrics(7, detailed=True)
    for part in range(0, 50, 16):  # accumulated over batches
        scores.update(logits[part : part + 16], labels[part : part + 16])
    result = scores.compute()
    ranks = (logits > logits.gather(1, labels[:, None])).sum(1)  # classes scored higher
    assert float(result["top1"]) == pytest.approx(float((ranks < 1).float().mean()))
    assert float(result["top5"]) == pytest.approx(float((ranks < 5).float().mean()))
    confusion = result["confusion"]
    assert (
        confusion.sum() == 50
        and confusion.sum(1).tolist() == torch.bincount(labels, minlength=7).tolist()
    )
    assert torch.allclose(result["per_class"], confusion.diag() / confusion.sum(1).clamp(min=1))


def test_mixed_targets_are_probabilities() -> None:
    task = task_for({"name": "small_cnn", "channels": [4]}, mixup=0.4, cutmix=1.0)
    images, labels = torch.rand(8, 1, 16, 16), torch.arange(8) % 6
    torch.manual_seed(1)
    mixed, targets = task.mix(images, labels)
    assert mixed.shape == images.shape and not torch.equal(mixed, images)
    assert targets.shape == (8, 6) and torch.allclose(targets.sum(1), torch.ones(8))
    assert batch_mix(task.cfg.task.model_copy(update={"mixup": 0.0, "cutmix": 0.0}), 6) is None
    assert task.loss(torch.randn(8, 6), targets).ndim == 0  # soft targets train as well


def test_googlenet_adds_its_auxiliary_losses() -> None:
    task = task_for({"name": "googlenet", "small_input": True}).train()
    images, labels = torch.rand(2, 1, 32, 32), torch.tensor([1, 4])

    class Batch:
        def __init__(self) -> None:
            self.images, self.labels = images, labels

        def __len__(self) -> int:
            return 2

    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer
        loss = task.training_step(Batch(), 0)["loss"].detach()
    torch.manual_seed(3)
    with torch.no_grad():
        logits, (aux2, aux1) = task.model.outputs(images)
    expected = task.loss(logits, labels) + 0.3 * (task.loss(aux2, labels) + task.loss(aux1, labels))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(loss) > float(task.loss(logits, labels))


def test_class_weights_must_match_the_classes() -> None:
    weighted = task_for({"name": "small_cnn"}, classes=3, class_weights=[1.0, 2.0, 0.5])
    assert weighted.class_weights.tolist() == [1.0, 2.0, 0.5]
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 1, 2])
    plain = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0, 0.5]))
    assert float(weighted.loss(logits, labels)) == pytest.approx(float(plain))
    with pytest.raises(InkbenchError, match=r"task\.class_weights: 2 weights for 3 classes"):
        task_for({"name": "small_cnn"}, classes=3, class_weights=[1.0, 2.0])
