"""Reading a trained run: predictions and error rates on a split and on the extra evaluation
sets, the LM weight search on val, and the reports (``report.md``, confusion matrices,
galleries) written into the run folder.

``inkbench.evaluation`` was one module before it grew into this package; its names stay
importable from here.
"""

from inkbench.evaluation.evaluate import (
    DECODING_KEYS,
    LinePrediction,
    Recognizer,
    decoding_overrides,
    default_device,
    error_rates,
    evaluate,
    load_split,
    predict_lines,
    predict_split,
    read_line_image,
    with_dataset,
    with_decoding,
)
from inkbench.evaluation.served import served_model
from inkbench.evaluation.sets import check_eval_sets, evaluate_sets, load_eval_set

__all__ = [
    "DECODING_KEYS",
    "LinePrediction",
    "Recognizer",
    "check_eval_sets",
    "decoding_overrides",
    "default_device",
    "error_rates",
    "evaluate",
    "evaluate_sets",
    "load_eval_set",
    "load_split",
    "predict_lines",
    "predict_split",
    "read_line_image",
    "served_model",
    "with_dataset",
    "with_decoding",
]
