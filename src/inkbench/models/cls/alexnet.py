"""AlexNet (Krizhevsky et al. 2012), torchvision's one-GPU version.

``small_input``: the 11x11 stride-4 stem convolution becomes 3x3 stride 1; the three max-pools
stay, so a 32 px image leaves 3x3 features, which the adaptive pool spreads to torchvision's
6x6 (the classifier keeps its shape, and loaded classifier weights fit).
"""

from __future__ import annotations

from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS


@MODELS.register("alexnet", family="cls")
def alexnet(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    dropout: float = 0.5,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """AlexNet: five convolutions, three fully connected layers (dropout before the first two)."""
    net = models.alexnet(weights=None, num_classes=num_classes, dropout=dropout)
    if small_input or in_channels != 3:
        net.features[0] = new_stem(net.features[0], in_channels, small_input)
    model = ImageClassifier(
        net, stem="features.0", head=("classifier.6",), classifier=("classifier",)
    )
    return finish(model, "alexnet", weights, freeze)
