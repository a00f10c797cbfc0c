"""The one registry every model family file registers into."""

import typing

from torch import nn

from inkbench.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")

# Arguments the task passes from the data (number of classes; line height for OCR models,
# image channels for classifiers); configs may not set them.
PROVIDED_MODEL_ARGS = ("num_classes", "input_height", "in_channels")


def model_objective(name: str) -> str:
    """The task a registered model trains with (``ctc``, ``autoregressive``,
    ``classification`` or ``detection``).

    Read from the ``objective`` of the class its builder is annotated to return, so a
    config pairing a model with the wrong task fails before anything is built.
    """
    returned = typing.get_type_hints(MODELS.get(name)).get("return")
    objective = getattr(returned, "objective", None)
    if objective is None:
        raise TypeError(
            f"model builder {name!r} must be annotated to return a subclass of "
            "inkbench.models.ocr.base.CTCRecognizer or Seq2SeqRecognizer, of "
            "inkbench.models.cls.base.ImageClassifier, or of inkbench.models.det.base.Detector"
        )
    return str(objective)
