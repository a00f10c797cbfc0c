"""`inkbench train`, `eval` and `predict`: make a run, measure it, use it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inkbench.cli.common import DEFAULT_RUNS, JsonFlag, RunsDir, at_least, check_split, print_json
from inkbench.console import line_console
from inkbench.errors import InkbenchError

if TYPE_CHECKING:
    from rich.console import Console

Decode = Annotated[
    list[str] | None,
    typer.Option(
        "--decode",
        help="KEY=VALUE replacing the run's task.KEY (decoder, beam_width, lm, lm_alpha, "
        "lm_beta, max_length), e.g. --decode decoder=beam --decode lm=chars.arpa. Repeatable.",
    ),
]
NoSets = Annotated[
    bool,
    typer.Option(
        "--no-sets", help="Skip the extra evaluation sets of the run's config (eval.sets)."
    ),
]
Ocr = Annotated[
    str | None,
    typer.Option(
        "--ocr",
        help="Detectors: an OCR run (ctc or autoregressive; folder or name in --runs-dir; with "
        "predict --backend onnx also an .onnx file) that reads the detected lines: predict "
        "prints each page's text, eval adds page CER/WER.",
    ),
]
NmsIou = Annotated[
    float | None,
    typer.Option(
        "--nms-iou",
        help="Detectors: NMS IoU replacing the run's task.nms_iou (a box overlapping a "
        "higher-scoring box of its class by more is dropped); inference only, so one trained "
        "run measures several.",
    ),
]
DataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        help="KEY=VALUE replacing the run's data.KEY, to evaluate on another dataset, e.g. "
        "--data name=digits_lines, or --data name=folder --data path=my_lines. Repeatable.",
    ),
]


def train(
    args: Annotated[
        list[str] | None, typer.Argument(help="CONFIG file, then overrides KEY=VALUE.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Run folder suffix (default: config name).")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue this run from its last.ckpt, in its folder, as configured."),
    ] = None,
    eval_split: Annotated[
        str | None, typer.Option(help="After training, evaluate best.ckpt on this split.")
    ] = None,
    decode: Annotated[
        list[str] | None,
        typer.Option(
            "--decode",
            help="With --eval-split: also evaluate with these decoding settings (KEY=VALUE "
            "as for `inkbench eval --decode`), e.g. --decode decoder=beam --decode lm=x.arpa.",
        ),
    ] = None,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Train a model from a config file into a new run folder."""
    from lightning.pytorch.utilities import rank_zero_only

    from inkbench.config import load_config, validate_config
    from inkbench.evaluation.evaluate import decoding_overrides, evaluate, with_decoding
    from inkbench.evaluation.sets import check_eval_sets, evaluate_sets
    from inkbench.runs.store import find_run
    from inkbench.training.trainer import train as train_run

    # Evaluation options are checked before training, not after it.
    if eval_split is not None:
        check_split(eval_split)
    decoding = decoding_overrides(decode or [])
    if decoding and eval_split is None:
        raise InkbenchError("train --decode: only used with --eval-split")
    lm = decoding.get("lm")
    if lm is not None and not Path(str(lm)).is_file():
        raise InkbenchError(f"--decode lm={lm}: LM file not found")
    args = list(args or [])
    paths = [a for a in args if "=" not in a]
    overrides = [a for a in args if "=" in a]
    if resume:
        if paths:
            raise InkbenchError("train --resume takes no CONFIG (the run's config.yaml is used)")
        run = find_run(resume, runs_dir)
        from inkbench.config import apply_overrides, read_yaml

        raw = apply_overrides(read_yaml(run.path / "config.yaml"), overrides)
        cfg = validate_config(raw, str(run.path / "config.yaml"))
        if eval_split:
            check_eval_sets(cfg, cfg.eval.sets, "eval.sets")
        result = train_run(cfg, runs_dir, resume=run)
    else:
        if len(paths) != 1:
            raise InkbenchError("train: expected exactly one CONFIG file before the overrides")
        cfg = load_config(paths[0], overrides)
        if decoding:
            with_decoding(cfg, decoding)
        if eval_split:
            check_eval_sets(cfg, cfg.eval.sets, "eval.sets")
        result = train_run(cfg, runs_dir, name=name)
    if rank_zero_only.rank != 0:
        return  # another ddp process: process 0 reports and evaluates the run
    console = line_console()
    best = result.meta().get("best", {})
    console.print(f"finished: {result.path}  best {best.get('metric')} = {best.get('value')}")
    if eval_split and cfg.family == "det":
        from inkbench.cli.detection import map_line
        from inkbench.evaluation.detect import evaluate_detector

        console.print(map_line(evaluate_detector(result, eval_split)), highlight=False)
    elif eval_split and cfg.family == "cls":
        from inkbench.cli.classification import print_accuracy
        from inkbench.evaluation.classify import evaluate_classifier

        print_accuracy(evaluate_classifier(result, eval_split))
    elif eval_split:
        settings: list[tuple[str, dict | None]] = [("", None)]
        if decoding:
            settings.append((f" ({' '.join(decode or [])})", decoding))
        for label, chosen in settings:
            scores = evaluate(result, eval_split, decoding=chosen)
            console.print(f"{eval_split}{label}: {_rates(scores)}  run {result.path}")
            _print_sets(console, evaluate_sets(result, cfg.eval.sets, decoding=chosen), label)


def _rates(scores: dict[str, Any]) -> str:
    return f"CER {scores['cer']:.4f}  WER {scores['wer']:.4f}  n {scores['n']}"


def _print_sets(console: Console, results: dict[str, dict[str, Any]], suffix: str = "") -> None:
    """One line per extra evaluation set, e.g. ``digits (digits_lines test): CER ...``."""
    for label, scores in results.items():
        where = " ".join(str(w) for w in (scores["data"].get("name"), scores["split"]) if w)
        console.print(f"{label} ({where}){suffix}: {_rates(scores)}")


Tta = Annotated[
    str | None,
    typer.Option(
        "--tta",
        help="Classifiers: test-time augmentation, each image's class probabilities "
        "averaged over its views: none, flip (the image and its mirror), five_crop (the "
        "corners and centre of a larger resize), ten_crop (those and their mirrors) [none].",
    ),
]


def eval_command(
    run: Annotated[str, typer.Argument(help="Run folder, or its name in --runs-dir.")],
    split: Annotated[str, typer.Option(help="Dataset split to evaluate.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    batch_size: Annotated[
        int | None,
        typer.Option(callback=at_least(1), help="Lines (images) per batch [data.batch_size]."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option("--report", help="Also write report.md and report/*.png into the run folder."),
    ] = False,
    decode: Decode = None,
    data: DataOption = None,
    no_sets: NoSets = False,
    tta: Tta = None,
    ocr: Ocr = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Detectors with --ocr: line boxes scoring below this are not read [0.3]."
        ),
    ] = None,
    nms_iou: NmsIou = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """CER and WER of a run's checkpoint on a split (of its own dataset, or of --data's),
    then on each extra set of the run's config (eval.sets; not with --data); top-1 and top-5
    accuracy for a classifier; mAP@0.5, mAP@0.5:0.95 and AP per class for a detector.

    ``--json`` prints ``{"cer", "wer", "n", "run"}``, plus ``"report"`` with ``--report``
    and ``"sets"`` (label -> ``{"cer", "wer", "n", "split", "data"}``) unless --data or
    --no-sets; for a classifier ``{"top1", "top5", "n", "split", "run", "tta", "per_class",
    "confusion"}`` (and ``"report"``); for a detector ``{"map50", "map", "per_class":
    {class: {"ap50", "ap"}}, "n", "split", "run"}``, and with ``--ocr OCR_RUN`` the page
    CER and WER of the detector and that OCR run reading the split's pages, next to the OCR
    run's line CER on the same pages' true line crops (``"page_cer", "page_wer", "pages",
    "line_cer", "line_wer", "lines", "ocr", "threshold"``).
    """
    from inkbench.config import apply_overrides
    from inkbench.data.images.transforms import check_tta
    from inkbench.evaluation.evaluate import decoding_overrides, evaluate
    from inkbench.evaluation.sets import evaluate_sets
    from inkbench.runs.store import find_run

    check_split(split)
    if tta is not None:
        check_tta(tta, "--tta")
    if checkpoint not in ("best", "last"):
        raise InkbenchError(f"--checkpoint: expected best or last, got {checkpoint!r}")
    decoding = decoding_overrides(decode or [])
    if data and report:
        raise InkbenchError("--report describes the run's own dataset; drop --data")
    found = find_run(run, runs_dir)
    if found.config().family == "det":
        from inkbench.cli.detection import eval_detector, refuse_options

        unused = {"--data": data, "--report": report, "--tta": tta}
        refuse_options(found, unused if ocr else {"--decode": decode, **unused})
        reader = find_run(ocr, runs_dir) if ocr else None
        eval_detector(
            found, split, checkpoint, batch_size, as_json, reader, threshold, decoding, nms_iou
        )
        return
    for flag, value in (("--ocr", ocr), ("--threshold", threshold), ("--nms-iou", nms_iou)):
        if value is not None:
            raise InkbenchError(f"{flag}: used with detectors only; {found.name} is not one")
    if found.config().family == "cls":
        from inkbench.cli.classification import eval_classifier, refuse_ocr_options

        ocr_only = {"--decode": decode, "--data": data, "--no-sets": no_sets}
        refuse_ocr_options(found.name, ocr_only)
        eval_classifier(found, split, checkpoint, batch_size, tta or "none", report, as_json)
        return
    if tta is not None:
        raise InkbenchError(f"--tta: used with classifiers only; {found.name} is an OCR run")
    if data:
        scores = evaluate(found, split, checkpoint, batch_size, decoding, apply_overrides({}, data))
    elif report:
        from inkbench.evaluation.reports.ocr import report_run

        scores = report_run(found, split, checkpoint, batch_size, decoding)
    else:
        scores = evaluate(found, split, checkpoint, batch_size, decoding)
    # The sets describe the run's own config: another dataset (--data) has none.
    with_sets = not (data or no_sets)
    if as_json:
        keys = ("cer", "wer", "n", "run", "report")
        result = {k: scores[k] for k in keys if k in scores}
        if with_sets:
            result["sets"] = evaluate_sets(found, None, checkpoint, batch_size, decoding)
        print_json(result)
        return
    console = line_console()
    console.print(f"{split}: {_rates(scores)}  run {scores['run']}")
    if report:
        console.print(f"report: {scores['report']}")
    if with_sets:
        _print_sets(console, evaluate_sets(found, None, checkpoint, batch_size, decoding))


def predict(
    run: Annotated[
        str,
        typer.Argument(
            help="Run folder, or its name in --runs-dir; with --backend onnx also an .onnx file."
        ),
    ],
    images: Annotated[
        list[Path], typer.Argument(help="Image files (text lines; any image for a classifier).")
    ],
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    decode: Decode = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", help="Classifiers: classes shown per image [5].")
    ] = None,
    tta: Tta = None,
    backend: Annotated[
        str,
        typer.Option(
            help="torch (the checkpoint) or onnx (onnxruntime on the run's export/CHECKPOINT.onnx "
            "from `inkbench export`, or on the .onnx file given as RUN); same preparation and "
            "decoding either way. With a detector and --ocr, onnx serves the OCR run (its "
            "export, or an .onnx file given as --ocr); the detector runs its checkpoint in "
            "torch, since `inkbench export` exports line recognizers and classifiers only."
        ),
    ] = "torch",
    threshold: Annotated[
        float | None,
        typer.Option(help="Detectors: boxes scoring below this are not shown [0.3]."),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option(
            help="Detectors: write the page with its boxes (and with --ocr their text) drawn "
            "to this PNG file."
        ),
    ] = None,
    ocr: Ocr = None,
    nms_iou: NmsIou = None,
    as_json: JsonFlag = False,
    runs_dir: RunsDir = DEFAULT_RUNS,
) -> None:
    """Transcribe line images with a trained run, classify images with a classifier, or find
    the text boxes of pages with a detector.

    ``--json`` prints ``{"predictions": [{"image", "text"}]}``, for a classifier
    ``{"predictions": [{"image", "top": [{"class", "probability"}]}]}``, for a detector
    ``{"predictions": [{"image", "boxes": [{"box": [x0, y0, x1, y1], "label", "score"}]}]}``
    (page pixels); a detector with ``--ocr OCR_RUN`` reads each page's lines, in reading
    order, with that OCR run: ``{"predictions": [{"image", "lines": [{"box", "text",
    "score"}], "text"}]}`` (``text``: the lines joined by newlines).
    """
    from dataclasses import replace

    from inkbench.evaluation.classify import Classifier
    from inkbench.evaluation.evaluate import Recognizer, decoding_overrides, read_line_image
    from inkbench.runs.store import find_run

    if backend not in ("torch", "onnx"):
        raise InkbenchError(f"--backend {backend!r}: expected torch or onnx")
    if checkpoint not in ("best", "last"):
        raise InkbenchError(f"--checkpoint: expected best or last, got {checkpoint!r}")
    served: Recognizer | Classifier | None = None
    # With --ocr the onnx backend serves the OCR run (the lines); RUN is a detector's run.
    if backend == "onnx" and ocr is None:
        from inkbench.export.runtime import load_onnx, onnx_file

        path = onnx_file(run, runs_dir, checkpoint)
        served = load_onnx(path)
        name, family = str(path), served.cfg.family
    else:
        found = find_run(run, runs_dir)
        name, family = found.name, found.config().family
        if family == "det":
            from inkbench.cli.detection import (
                onnx_line_reader,
                predict_detector,
                predict_page_text,
                refuse_options,
            )

            unused = {"--top-k": top_k, "--tta": tta}
            if ocr is None:
                refuse_options(found, {"--decode": decode, **unused})
                predict_detector(found, images, checkpoint, threshold, overlay, as_json, nms_iou)
                return
            refuse_options(found, unused)
            decoding = decoding_overrides(decode or [])
            reader = (
                find_run(ocr, runs_dir)
                if backend == "torch"
                else onnx_line_reader(ocr, runs_dir, checkpoint)
            )
            predict_page_text(
                found, reader, images, checkpoint, threshold, decoding, overlay, as_json, nms_iou
            )
            return
    detector_only = (("--threshold", threshold), ("--overlay", overlay), ("--ocr", ocr))
    for flag, value in (*detector_only, ("--nms-iou", nms_iou)):
        if value is not None:
            raise InkbenchError(f"{flag}: used with detectors only; {name} is not one")
    if family == "cls":
        from inkbench.cli.classification import (
            check_predict_options,
            predict_classifier,
            refuse_ocr_options,
        )

        refuse_ocr_options(name, {"--decode": decode})
        k, views = 5 if top_k is None else top_k, tta or "none"
        check_predict_options(k, views)
        classifier = (
            replace(served, tta=views)
            if isinstance(served, Classifier)
            else Classifier.from_run(found, checkpoint, tta=views)
        )
        predict_classifier(classifier, images, k, as_json)
        return
    for flag, value in (("--top-k", top_k), ("--tta", tta)):
        if value is not None:
            raise InkbenchError(f"{flag}: used with classifiers only; {name} is an OCR run")
    decoding = decoding_overrides(decode or [])
    arrays = [read_line_image(p) for p in images]
    recognizer = (
        served.with_decoding(decoding)
        if isinstance(served, Recognizer)
        else Recognizer.from_run(found, checkpoint, decoding=decoding)
    )
    texts = recognizer.transcribe(arrays)
    if as_json:
        print_json(
            {
                "predictions": [
                    {"image": str(p), "text": t} for p, t in zip(images, texts, strict=True)
                ]
            }
        )
    else:
        for path, text in zip(images, texts, strict=True):
            sys.stdout.write(f"{path}\t{text}\n")
