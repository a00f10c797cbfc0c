"""GoogLeNet / Inception v1 (Szegedy et al. 2014), from torchvision, with its auxiliary heads.

With ``aux_logits`` (the default, as in the paper) the two auxiliary classifiers train with the
loss weight 0.3 each and are left out at inference. ``small_input``: the 7x7 stride-2 stem
convolution becomes 3x3 stride 1 and the two max-pools before the first inception block go (as
CIFAR versions do): a 32 px image reaches the inception blocks at 32x32 and leaves 8x8.
"""

from __future__ import annotations

from torch import nn
from torchvision import models

from inkbench.models.cls.base import Freeze, ImageClassifier, new_stem
from inkbench.models.cls.transfer import finish
from inkbench.models.registry import MODELS

#: Loss weight of each auxiliary classifier (Szegedy et al. 2014, section 5).
AUX_WEIGHT = 0.3


@MODELS.register("googlenet", family="cls")
def googlenet(
    num_classes: int,
    in_channels: int,
    *,
    small_input: bool = False,
    aux_logits: bool = True,
    dropout: float = 0.2,
    weights: str | None = None,
    freeze: Freeze = "none",
) -> ImageClassifier:
    """GoogLeNet: nine inception blocks; auxiliary classifiers after blocks 4a and 4d."""
    net = models.googlenet(
        weights=None,
        num_classes=num_classes,
        aux_logits=aux_logits,
        init_weights=True,
        dropout=dropout,
    )
    if small_input or in_channels != 3:
        net.conv1.conv = new_stem(net.conv1.conv, in_channels, small_input)
    if small_input:
        net.maxpool1 = nn.Identity()
        net.maxpool2 = nn.Identity()
    aux = ("aux1", "aux2") if aux_logits else ()
    model = ImageClassifier(
        net,
        stem="conv1.conv",
        head=("fc", *(f"{name}.fc2" for name in aux)),
        classifier=("fc", *aux),
        aux_weights=(AUX_WEIGHT,) * len(aux),
        optional=("aux1", "aux2"),
    )
    return finish(model, "googlenet", weights, freeze)
