"""The one registry every model family file registers into."""

from torch import nn

from inkbench.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")

# Arguments the task passes from the data (number of classes, image height); configs may not.
PROVIDED_MODEL_ARGS = ("num_classes", "input_height")
