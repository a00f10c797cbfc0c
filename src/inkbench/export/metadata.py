"""What an exported file says about itself: the metadata inference needs, and reading it back.

ONNX files carry it as ``metadata_props`` (string keys and values), TorchScript files as an
extra file ``inkbench.json`` holding the same mapping. Values are plain strings or JSON.
Programs other than inkbench read the explicit keys (charset or classes, input height,
normalization); inkbench itself rebuilds line preparation and decoding from ``config`` (the
run's resolved config), so both backends run the very same code around the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from inkbench.config import Config, validate_config
from inkbench.data.charset import Charset
from inkbench.errors import InkbenchError

PREFIX = "inkbench."
#: Bumped when the keys or the graphs' inputs and outputs change meaning.
FORMAT = "1"


def export_metadata(cfg: Config, role: str, source: str, **extra: str) -> dict[str, str]:
    """The metadata of one exported graph of a model trained with ``cfg``.

    Args:
        cfg: the run's resolved config.
        role: ``model``, ``encoder`` or ``step`` (``inkbench.export.graphs.Graph.role``).
        source: the checkpoint exported (a path), for people reading the file.
        extra: more keys (``opset``, ``step_file``), without the prefix.
    """
    data = cfg.data
    norm = data.normalize
    keys = {
        "format": FORMAT,
        "role": role,
        "source": source,
        "model": cfg.model.name,
        "task": cfg.task.name,
        "family": cfg.family,
        # Applied by the caller to images in [0, 1] before the graph (None: not at all).
        "normalize": json.dumps({"mean": norm.mean, "std": norm.std} if norm else None),
        "config": json.dumps(cfg.to_dict()),
        **extra,
    }
    if cfg.family == "cls":
        keys["input_height"] = str(data.transforms.size)
        keys["classes"] = json.dumps(data.classes)
        keys["preprocess"] = data.transforms.model_dump_json()
    else:
        keys["input_height"] = str(data.height)
        # Class id i + 1 is the i-th character; 0 is the CTC blank (encoder-decoders: padding,
        # and their last two ids are the start and end tokens).
        keys["charset"] = json.dumps(data.charset)
        keys["preprocess"] = json.dumps(
            {"max_width": data.max_width, **data.preprocess.model_dump(mode="json")}
        )
    return {PREFIX + key: value for key, value in keys.items()}


def metadata_value(metadata: Mapping[str, str], key: str, source: str) -> str:
    """``metadata[PREFIX + key]``; a file without it was not written by ``inkbench export``."""
    try:
        return metadata[PREFIX + key]
    except KeyError:
        raise InkbenchError(
            f"{source}: no {PREFIX}{key} in its metadata; not a file written by inkbench export"
        ) from None


def config_from_metadata(metadata: Mapping[str, str], source: str) -> Config:
    """The resolved config an exported file records, checked against its explicit keys."""
    found = metadata_value(metadata, "format", source)
    if found != FORMAT:
        raise InkbenchError(f"{source}: export format {found!r}; this inkbench reads {FORMAT!r}")
    cfg = validate_config(json.loads(metadata_value(metadata, "config", source)), source)
    if cfg.family == "cls":
        if json.loads(metadata_value(metadata, "classes", source)) != cfg.data.classes:
            raise InkbenchError(f"{source}: {PREFIX}classes differ from its config's data.classes")
    elif Charset(json.loads(metadata_value(metadata, "charset", source))) != Charset(
        cfg.data.charset
    ):
        raise InkbenchError(f"{source}: {PREFIX}charset differs from its config's data.charset")
    return cfg
