"""What the classification task expects of a model, and the options every classifier shares.

``ImageClassifier`` wraps a network and names its parts: the *stem* (first convolution, built
for the data's channels and, with ``small_input``, for 28-64 px images), the *head* (the final
linear layer(s), sized for the data's classes and never loaded from weights), the *classifier*
block that contains the head (what ``freeze: backbone`` leaves trainable and
``optim.backbone_lr_multiplier`` does not scale) and optional auxiliary heads (GoogLeNet).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import torch
from torch import nn

Freeze = Literal["none", "backbone", "all_but_head"]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether the parameter or module ``name`` lies in a module named by ``prefixes``."""
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


def new_stem(old: nn.Conv2d, in_channels: int, small_input: bool) -> nn.Conv2d:
    """``old`` rebuilt for ``in_channels`` (and, with ``small_input``, as a 3x3 stride-1
    convolution), initialized as torchvision initializes ResNet convolutions."""
    shape = (3, 1, 1) if small_input else (old.kernel_size, old.stride, old.padding)
    conv = nn.Conv2d(in_channels, old.out_channels, *shape, bias=old.bias is not None)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class ImageClassifier(nn.Module):
    """``forward(images (B, C, H, W)) -> logits (B, num_classes)``.

    Args:
        net: the network (its state-dict keys are those of torchvision's model).
        stem: name of the first convolution in ``net``.
        head: names of the final linear layers (the auxiliary heads' too).
        classifier: names of the modules after the features; they contain ``head``.
        aux_weights: loss weight of each auxiliary output ``net`` returns in training.
        optional: modules a weights file may have or lack (auxiliary heads).
    """

    objective: ClassVar[str] = "classification"

    def __init__(
        self,
        net: nn.Module,
        *,
        stem: str,
        head: tuple[str, ...],
        classifier: tuple[str, ...],
        aux_weights: tuple[float, ...] = (),
        optional: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.net = net
        self.stem, self.head, self.classifier = stem, head, classifier
        self.aux_weights, self.optional = aux_weights, optional
        self._frozen_norms: tuple[str, ...] = ()
        self.weights_note: str | None = None
        """One line on the weights loaded at build time (``model.weights``), if any."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs(images)[0]

    def outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (B, K) and, in training, the auxiliary heads' logits (B, K) each."""
        out = self.net(images)
        if isinstance(out, tuple):  # torchvision's GoogLeNetOutputs(logits, aux2, aux1)
            return out[0], list(out[1:])
        return out, []

    def upgrade_keys(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A weights file's keys as this version of the network names them."""
        return state

    def named_groups(self) -> Iterator[tuple[str, str, nn.Parameter]]:
        """``(group, name, parameter)`` for every parameter; group is ``head``,
        ``classifier`` (the rest of the classifier block) or ``backbone``."""
        for name, param in self.net.named_parameters():
            if within(name, self.head):
                yield "head", name, param
            elif within(name, self.classifier):
                yield "classifier", name, param
            else:
                yield "backbone", name, param

    def freeze(self, part: Freeze) -> None:
        """Stop training the backbone (``backbone``) or everything but the head
        (``all_but_head``); frozen BatchNorms keep their running statistics too."""
        if part == "none":
            return
        trained = ("head", "classifier") if part == "backbone" else ("head",)
        for group, _, param in self.named_groups():
            param.requires_grad_(group in trained)
        self._frozen_norms = tuple(
            name
            for name, module in self.net.named_modules()
            if isinstance(module, nn.modules.batchnorm._BatchNorm)
            and not any(p.requires_grad for p in module.parameters())
        )
        self.train(self.training)

    def train(self, mode: bool = True) -> ImageClassifier:
        super().train(mode)
        for name in self._frozen_norms:
            self.net.get_submodule(name).eval()
        return self
