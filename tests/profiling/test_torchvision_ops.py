"""MACs and parameters equal torchvision's published weight metadata (`_ops`, `num_params`).

Models are built on the meta device where their builders allow it: no weights, no compute.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision import models

from inkbench.profiling import profile

# Published googlenet weights drop the auxiliary heads after loading.
OPTIONS = {"googlenet": {"aux_logits": False}}


def _check(name: str, size: int, **options: object) -> None:
    meta = models.get_model_weights(name).DEFAULT.meta
    options = {**OPTIONS.get(name, {}), **options}
    if name.startswith("regnet"):  # its builder computes widths with tensors: no meta device
        if meta["num_params"] > 100e6:
            pytest.skip("too large to build on the CPU")
        model = models.get_model(name, weights=None, **options).to("meta").eval()
    else:
        with torch.device("meta"):
            model = models.get_model(name, weights=None, **options).eval()
    result = profile(model, (1, 3, size, size))
    assert round(result.forward.macs / 1e9, 3) == meta["_ops"]
    assert result.params == meta["num_params"]
    assert result.not_counted == []


@pytest.mark.parametrize(
    "name",
    [
        "alexnet",
        "googlenet",
        "resnet18",
        "resnet50",
        "densenet121",
        "mobilenet_v3_small",
        "vit_b_16",
    ],
)
def test_published_ops_at_224(name: str) -> None:
    _check(name, 224)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.list_models(module=torchvision.models))
def test_every_classification_model_at_its_published_size(name: str) -> None:
    weights = models.get_model_weights(name).DEFAULT
    size = weights.transforms().crop_size[0]
    _check(name, size, **({"image_size": size} if name.startswith("vit") else {}))
