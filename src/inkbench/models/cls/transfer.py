"""Transfer learning without downloads: a local torchvision state-dict file loaded into a
classifier built for the data's classes, then the configured part frozen.

Every tensor of the file must fit the model, except:

- the head's, which is new (sized for the data's classes) and never loaded;
- the first convolution's, when the stem was rebuilt: for gray input the file's RGB filters
  are summed over their input channels (timm's ``adapt_input_conv`` does the same), and a
  stem of another shape (``small_input``) keeps its fresh initialization;
- auxiliary heads (GoogLeNet), which either side may lack;
- BatchNorm's ``num_batches_tracked`` counters, which older torchvision files lack.

Anything else missing, extra or of another shape means a file of another architecture: an
error naming a few of the keys, not a half-loaded model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from inkbench.errors import InkbenchError
from inkbench.models.cls.base import Freeze, ImageClassifier, within


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors by name from ``path``, loaded with ``weights_only=True`` (no code runs)."""
    if not path.is_file():
        raise InkbenchError(f"model.weights: {path} not found (expected a state-dict file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InkbenchError(
            f"model.weights: {path}: not loadable with torch.load(weights_only=True) ({reason})"
        ) from None
    if not (
        isinstance(state, dict)
        and state
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise InkbenchError(
            f"model.weights: {path}: expected a state dict (tensor name -> tensor), as "
            "torch.save(model.state_dict(), path) writes it"
        )
    return state


def _some(keys: list[str]) -> str:
    """``3 (aux1.fc2.weight, ...)``, or ``none``."""
    if not keys:
        return "none"
    return f"{len(keys)} ({keys[0]}{', ...' if len(keys) > 1 else ''})"


def load_weights(model: ImageClassifier, path: str, name: str) -> str:
    """Load the file at ``path`` into ``model`` (see the module docstring for what must fit);
    returns one line saying what was loaded, left out and kept new."""
    state = model.upgrade_keys(read_state_dict(Path(path)))
    own = model.net.state_dict()
    merged = dict(own)
    loaded, left_out, summed, fresh, unexpected, reshaped = [], [], [], [], [], []
    for key, value in state.items():
        target = own.get(key)
        if within(key, model.head):
            left_out.append(key)
        elif target is None:
            unexpected.append(key)
        elif value.shape == target.shape:
            merged[key] = value.to(target.dtype)
            loaded.append(key)
        elif not within(key, (model.stem,)):
            reshaped.append(f"{key} {tuple(value.shape)} in the file, {tuple(target.shape)} here")
        elif value.dim() == 4 and target.shape[1] == 1 and value.shape[2:] == target.shape[2:]:
            merged[key] = value.sum(dim=1, keepdim=True).to(target.dtype)
            summed.append(key)
        else:
            fresh.append(key)
    missing = [
        key
        for key in own
        if key not in state
        and not within(key, model.head)
        and not key.endswith("num_batches_tracked")
    ]
    wrong = [
        f"{len(keys)} {what} (e.g. {keys[0]})"
        for what, keys in (
            ("of the model's tensors are not in the file", _required(missing, model)),
            ("of the file's tensors are not in the model", _required(unexpected, model)),
            ("have another shape", reshaped),
        )
        if keys
    ]
    if wrong:
        raise InkbenchError(
            f"model.weights: {path} does not fit model {name!r}: {'; '.join(wrong)}; "
            "is it a state dict of another architecture?"
        )
    model.net.load_state_dict(merged)
    classes = model.net.get_submodule(model.head[0]).out_features
    note = (
        f"model.weights: {path}: {len(loaded)} tensors loaded; new head "
        f"({', '.join(model.head)}) for {classes} classes, {len(left_out)} file tensors left out"
    )
    if summed:
        note += f"; {', '.join(summed)} summed over the file's input channels (gray images)"
    if fresh:
        note += f"; {', '.join(fresh)} kept new (another stem shape: small_input)"
    return f"{note}; missing: {_some(missing)}; unexpected: {_some(unexpected)}"


def _required(keys: list[str], model: ImageClassifier) -> list[str]:
    """The keys outside the modules a weights file may have or lack (auxiliary heads)."""
    return [key for key in keys if not within(key, model.optional)]


def finish(
    model: ImageClassifier, name: str, weights: str | None, freeze: Freeze
) -> ImageClassifier:
    """Load ``weights`` into a freshly built classifier and freeze what ``freeze`` says: the
    last step of every family's builder."""
    if weights is not None:
        model.weights_note = load_weights(model, weights, name)
    elif freeze != "none":
        warnings.warn(
            f"model {name}: freeze: {freeze} without model.weights keeps randomly initialized "
            "layers fixed",
            stacklevel=2,
        )
    model.freeze(freeze)
    return model
