"""Model registry: ``MODELS.build("crnn", num_classes=..., input_height=..., **options)``."""

# Importing a family module registers its models.
from inkbench.models.cls import alexnet as _alexnet  # noqa: F401
from inkbench.models.cls import densenet as _densenet  # noqa: F401
from inkbench.models.cls import googlenet as _googlenet  # noqa: F401
from inkbench.models.cls import mobilenet as _mobilenet  # noqa: F401
from inkbench.models.cls import resnet as _resnet  # noqa: F401
from inkbench.models.cls import small_cnn as _small_cnn  # noqa: F401
from inkbench.models.cls import vgg as _vgg  # noqa: F401
from inkbench.models.det import fcos as _fcos  # noqa: F401
from inkbench.models.det import yolo as _yolo  # noqa: F401
from inkbench.models.ocr import attention as _attention  # noqa: F401
from inkbench.models.ocr import crnn as _crnn  # noqa: F401
from inkbench.models.ocr import line_cnn as _line_cnn  # noqa: F401
from inkbench.models.ocr import line_cnn_lstm as _line_cnn_lstm  # noqa: F401
from inkbench.models.ocr import resnet_transformer as _resnet_transformer  # noqa: F401
from inkbench.models.registry import MODELS, PROVIDED_MODEL_ARGS

__all__ = ["MODELS", "PROVIDED_MODEL_ARGS"]
