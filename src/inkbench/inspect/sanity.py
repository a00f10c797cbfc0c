"""The model-randomization check of attribution maps (Adebayo et al. 2018, "Sanity checks for
saliency maps"): a map that explains what a network learned must change when the learned
weights are replaced by random ones (``sanity_check``, ``inkbench inspect sanity``).

The same units are attributed on the same images with the trained network and with a copy
whose every layer is re-initialized, and the absolute maps are compared by Spearman rank
correlation, per image. A map method that passes ranks pixels differently for the two
networks (the issue's bar: a correlation below 0.5); one that fails draws mostly the image's
own edges, whatever the weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rich.table import Table
from scipy.stats import spearmanr
from torch import nn

from inkbench.errors import InkbenchError
from inkbench.inspect.attribution import METHODS, Unit, attribute, explained_copy, resolve

#: The correlation below which a method passes (the issue's bar).
BAR = 0.5


def reinitialized(model: nn.Module, root: nn.Module, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A copy of ``model`` (and of ``root`` inside it) with every module that has
    ``reset_parameters`` (convolutions, linear layers, LSTMs, BatchNorm with its running
    statistics) drawn anew, seeded; the global RNG is left as it was."""
    fresh, fresh_root = copy.deepcopy((model, root))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return fresh, fresh_root


@dataclass
class SanityCheck:
    """Rank correlations between a trained network's maps and a re-initialized copy's.

    Args:
        methods: the attribution methods compared.
        units: the unit explained on each image, described in words.
        rhos: per method, per image, the Spearman correlation of the absolute maps; None
            when either map is constant (a random network's Grad-CAM is often all 0), which
            ranks nothing.
        layer: Grad-CAM's layer, if Grad-CAM is among the methods.
        seed: the re-initialization's seed.
    """

    methods: list[str]
    units: list[str]
    rhos: dict[str, list[float | None]]
    layer: str | None
    seed: int

    def summary(self, method: str) -> dict[str, float | int | None]:
        """``{"ranked", "mean", "min", "max"}`` over the images whose maps rank."""
        found = [rho for rho in self.rhos[method] if rho is not None]
        if not found:
            return {"ranked": 0, "mean": None, "min": None, "max": None}
        return {
            "ranked": len(found),
            "mean": float(np.mean(found)),
            "min": min(found),
            "max": max(found),
        }

    def to_json(self) -> dict:
        """``{"images", "layer", "seed", "bar", "units", "methods": [{"method", "ranked",
        "mean", "min", "max", "passes", "rhos"}]}``."""
        methods = []
        for method in self.methods:
            summary = self.summary(method)
            mean = summary["mean"]
            passes = None if mean is None else bool(mean < BAR)
            methods.append(
                {"method": method, **summary, "passes": passes, "rhos": self.rhos[method]}
            )
        return {
            "images": len(self.units),
            "layer": self.layer,
            "seed": self.seed,
            "bar": BAR,
            "units": self.units,
            "methods": methods,
        }

    def table(self) -> Table:
        table = Table(
            "method",
            "images ranked",
            "mean rho",
            "min",
            "max",
            f"mean < {BAR}",
            title=f"trained vs re-initialized weights: Spearman rho of |map| over "
            f"{len(self.units)} images",
        )
        for row in self.to_json()["methods"]:
            found = row["mean"] is not None
            table.add_row(
                row["method"],
                f"{row['ranked']} of {len(self.units)}",
                f"{row['mean']:.3f}" if found else "-",
                f"{row['min']:.3f}" if found else "-",
                f"{row['max']:.3f}" if found else "-",
                "-" if row["passes"] is None else ("yes" if row["passes"] else "no"),
            )
        return table


def sanity_check(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    unit: Unit,
    methods: Sequence[str] = METHODS,
    layer: str | None = None,
    root: nn.Module | None = None,
    labels: list[str] | None = None,
    seed: int = 0,
    steps: int = 32,
    window: int = 4,
    stride: int | None = None,
) -> SanityCheck:
    """Attribute ``unit`` on every image with ``model`` and with ``reinitialized(model)``.

    Args:
        model: images (B, C, H, W) -> outputs, as ``attribute`` takes it.
        images: (C, H, W) images the model reads.
        unit: what to explain (a class or an OCR frame's character); its missing fields are
            found on each image with the *trained* model, and the random copy explains the
            same unit.
        methods: attribution methods (``METHODS``); Grad-CAM needs ``layer``.
        root, labels, steps, window, stride: as ``attribute`` takes them.
        seed: seeds the re-initialization.
    """
    if not images:
        raise InkbenchError("images: expected at least 1")
    if unit.kind == "channel":
        raise InkbenchError(
            "unit: a class or an OCR frame's character; the re-initialized network's channels "
            "are other features, not the same unit"
        )
    for method in methods:
        if method not in METHODS:
            raise InkbenchError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if "gradcam" in methods and layer is None:
        raise InkbenchError("gradcam: needs a layer (a convolution's output map)")
    trained = explained_copy(model, model if root is None else root)  # (model, root)
    networks = (trained, reinitialized(*trained, seed=seed))
    rhos: dict[str, list[float | None]] = {method: [] for method in methods}
    units = []
    for image in images:
        with torch.autocast("cpu", enabled=False):
            found = resolve(*trained, image.float()[None], unit)
        units.append(found.describe(labels))
        for method in methods:
            grad_layer = layer if method == "gradcam" else None
            options = {"steps": steps, "window": window, "stride": stride}
            maps = [
                np.abs(attribute(net, image, found, method, grad_layer, at, **options).map)
                for net, at in networks
            ]
            ranked = all(m.std() > 0 for m in maps)
            rho = spearmanr(maps[0].ravel(), maps[1].ravel()).statistic if ranked else None
            rhos[method].append(None if rho is None else float(rho))
    return SanityCheck(list(methods), units, rhos, layer, seed)
