"""Typed run configuration: YAML files + dotted command-line overrides, validated at load time.

Top level: the config is what every floor above the models is built from; it validates
model and dataset options against their registries (docs/architecture.md, Floors).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from inkbench.data.charset import DEFAULT_CHARS, Charset
from inkbench.errors import InkbenchError
from inkbench.files import read_text
from inkbench.registry import format_validation_error


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class _OpenSection(BaseModel):
    """A section whose extra keys are the options of a registered builder (checked later)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NormalizeConfig(_Section):
    mean: list[float] = Field(min_length=1)
    """Per-channel mean of the training images (ink high, in [0, 1])."""
    std: list[float] = Field(min_length=1)
    """Per-channel standard deviation of the training images."""

    @pydantic.model_validator(mode="after")
    def _one_value_per_channel(self) -> NormalizeConfig:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values and std {len(self.std)}")
        if min(self.std) <= 0:
            raise ValueError(f"every std must be > 0, got {self.std}")
        return self


class PreprocessConfig(_Section):
    """Line normalization before resizing (``inkbench.data.preprocess``), the same in training,
    eval, predict and bench; everything off by default."""

    polarity: Literal["keep", "auto"] = "keep"
    """auto: a line whose paper is darker than its ink (white on black) is inverted."""
    background: Literal["none", "divide", "stretch"] = "none"
    """divide: divide by the estimated paper brightness (shading, edge gradients, tinted
    paper) then stretch; stretch: map the ink's and the paper's tones to black and white."""
    binarize: Literal["none", "otsu", "sauvola"] = "none"
    """Threshold the normalized line: global Otsu, or local Sauvola (uneven lighting)."""
    crop: bool = False
    """Crop to the ink (specks and dark edge bars ignored), then add ``pad``."""
    pad: float = Field(0.1, ge=0, le=1)
    """White margin around the cropped ink, as a share of the ink's height."""
    deskew: float = Field(0.0, ge=0, le=30)
    """Largest skew searched and corrected, in degrees (0: off)."""
    deslant: float = Field(0.0, ge=0, le=45)
    """Largest slant searched and corrected, in degrees (0: off)."""

    @property
    def enabled(self) -> bool:
        return self != PreprocessConfig()


class AugmentConfig(_Section):
    """Strengths of the training-time augmentations; 0 turns one off (all 0: none)."""

    rotate: float = Field(0.0, ge=0, le=45)
    """Largest rotation in degrees (random affine)."""
    shear: float = Field(0.0, ge=0, le=45)
    """Largest horizontal shear in degrees (random affine, slant of the writing)."""
    scale: float = Field(0.0, ge=0, lt=1)
    """Largest relative change of size, e.g. 0.1: 0.9x to 1.1x (random affine)."""
    elastic: float = Field(0.0, ge=0)
    """Elastic distortion magnitude (torchvision ElasticTransform alpha; ~20 is mild)."""
    blur: float = Field(0.0, ge=0)
    """Largest Gaussian blur sigma in pixels."""
    brightness: float = Field(0.0, ge=0, lt=1)
    """Ink darkness varies by up to this share (ColorJitter brightness on the ink-high image)."""
    contrast: float = Field(0.0, ge=0, lt=1)
    """Ink/paper contrast varies by up to this share (ColorJitter contrast)."""

    @property
    def enabled(self) -> bool:
        return any(value > 0 for value in self.model_dump().values())


class TransformsConfig(_Section):
    """How an image becomes the model's input (classification): the same resize and crop in
    training, eval and predict; the random steps in training only (``data.images.transforms``)."""

    size: int = Field(32, ge=8)
    """Side of the square image the model reads, in pixels."""
    center_crop_fraction: float = Field(1.0, gt=0, le=1)
    """The shorter side is resized to size / fraction and the central size x size kept (ImageNet
    recipes: 0.875, 224 of 256; 1: all of a square image, the middle of an oblong one)."""
    crop: Literal["center", "random", "random_resized"] = "center"
    """Training crop: center (as in eval), random (the eval resize, ``crop_padding`` added, a
    random size x size window: CIFAR recipes), random_resized (a random share of the area and
    aspect ratio, resized to size: Inception/ImageNet recipes)."""
    crop_padding: int = Field(0, ge=0)
    """Pixels of black padding on each side before a random crop (CIFAR recipes: 4)."""
    crop_scale: float = Field(0.08, gt=0, le=1)
    """Smallest share of the image's area a random_resized crop keeps."""
    hflip: float = Field(0.0, ge=0, le=1)
    """Probability of a horizontal flip (not for characters: a flipped 'b' is a 'd')."""
    vflip: float = Field(0.0, ge=0, le=1)
    """Probability of a vertical flip."""
    rotate: float = Field(0.0, ge=0, le=180)
    """Largest rotation in degrees (corners filled with black)."""
    brightness: float = Field(0.0, ge=0, lt=1)
    """Brightness varies by up to this share (ColorJitter)."""
    contrast: float = Field(0.0, ge=0, lt=1)
    """Contrast varies by up to this share (ColorJitter)."""
    saturation: float = Field(0.0, ge=0, lt=1)
    """Saturation varies by up to this share (ColorJitter; RGB images only)."""
    erasing: float = Field(0.0, ge=0, le=1)
    """Probability of erasing a random rectangle (RandomErasing)."""

    @pydantic.model_validator(mode="after")
    def _padding_needs_random_crop(self) -> TransformsConfig:
        if self.crop_padding and self.crop != "random":
            raise ValueError(f"crop_padding is used by crop: random only, got crop: {self.crop}")
        return self


class PageInputConfig(_Section):
    """Detection: how a page becomes the detector's input (the same letterbox in training, eval
    and predict) and the training-time augmentation that moves its boxes with it."""

    width: int = Field(384, ge=32, multiple_of=32)
    """Width of the model's input in pixels (a multiple of 32, the coarsest stride)."""
    height: int = Field(512, ge=32, multiple_of=32)
    """Height of the model's input in pixels (a multiple of 32)."""
    scale: float = Field(0.0, ge=0, lt=1)
    """Training: the page is zoomed by a random factor in [1 - scale, 1 + scale]."""
    translate: float = Field(0.0, ge=0, lt=1)
    """Training: the page moves by up to this share of the input's width and height."""
    brightness: float = Field(0.0, ge=0, lt=1)
    """Training: brightness varies by up to this share (ColorJitter)."""
    contrast: float = Field(0.0, ge=0, lt=1)
    """Training: contrast varies by up to this share (ColorJitter)."""


class DataConfig(_OpenSection):
    name: str = "synthetic"
    """Dataset registry name (`inkbench.data.DATASETS`); its own options sit beside it."""
    height: int = Field(32, ge=8)
    """Line images are resized to this height, keeping the aspect ratio."""
    max_width: int = Field(1024, ge=16)
    """Wider lines are squeezed to this width."""
    charset: str = DEFAULT_CHARS
    """Characters the model can output (blank excluded), each once."""
    batch_size: int = Field(32, ge=1)
    """Lines per training batch."""
    num_workers: int = Field(2, ge=0)
    """Worker processes that render/load lines."""
    cache: bool = True
    """Render/load every split once into memory (in worker processes) before training."""
    subset: int | None = Field(None, ge=1)
    """Train on a fixed random subset of this many training lines (None: all of them)."""
    preprocess: PreprocessConfig = PreprocessConfig()
    """Line normalization (polarity, background, crop, skew, slant) before resizing."""
    normalize: NormalizeConfig | None = None
    """Per-channel mean/std to normalize images with (`inkbench data stats --write`); None: off."""
    augment: AugmentConfig = AugmentConfig()
    """Training-time augmentation of line images (train split only)."""
    classes: list[str] | None = None
    """Classification: class names in the model's output order. None: the training split's own
    classes, written here when training starts (so config.yaml rebuilds the model without the
    data); given: every split's classes must be among them, and labels are matched by name."""
    channels: Literal[1, 3] | None = None
    """Classification: channels the model reads (1 gray, 3 RGB; images are converted). None: the
    dataset's own, written here when training starts."""
    transforms: TransformsConfig = TransformsConfig()
    """Classification: resize, crop, training-time augmentation of images."""
    input: PageInputConfig = PageInputConfig()
    """Detection: the input size pages are letterboxed to, and their training augmentation."""

    @pydantic.field_validator("charset")
    @classmethod
    def _valid_charset(cls, chars: str) -> str:
        # Checked here so a bad charset fails at load time, not when the data is built.
        Charset(chars)
        return chars

    @pydantic.field_validator("classes")
    @classmethod
    def _distinct_classes(cls, classes: list[str] | None) -> list[str] | None:
        if classes is not None:
            if not classes:
                raise ValueError("expected at least one class name")
            repeated = sorted({c for c in classes if classes.count(c) > 1})
            if repeated:
                raise ValueError(f"class {repeated[0]!r} is named more than once")
        return classes


class ModelConfig(_OpenSection):
    name: str = "crnn"
    """Model registry name (`inkbench.models.MODELS`); its constructor options sit beside it."""


class TaskConfig(_Section):
    name: Literal["ctc", "autoregressive", "classification", "detection"] = "ctc"
    """Training objective: ctc (CTC models), autoregressive (encoder-decoder models),
    classification (image classifiers, ``models list --family cls``) or detection (text box
    detectors, ``models list --family det``)."""
    decoder: Literal["greedy", "beam"] = "greedy"
    """How model outputs become text: best path / next token, or beam search."""
    beam_width: int = Field(10, ge=1)
    """Hypotheses kept per step by the beam search."""
    lm: str | None = None
    """Character n-gram LM (ARPA file, `inkbench lm train`) fused into the beam search."""
    lm_alpha: float = Field(0.5, ge=0)
    """Weight of the LM's log-probability in the beam search's score."""
    lm_beta: float = 0.0
    """Score bonus per emitted character, with an LM (offsets its preference for short lines)."""
    max_length: int = Field(128, ge=1)
    """Longest output of autoregressive decoding, in characters."""
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Label smoothing of the cross-entropy (autoregressive and classification)."""
    ctc_weight: float = Field(0.0, ge=0, lt=1)
    """Autoregressive: weight of an auxiliary CTC loss on the encoder's columns (joint
    CTC-attention); the rest of the loss is the decoder's cross-entropy (0: off)."""
    ctc_decode_weight: float = Field(0.0, ge=0, lt=1)
    """Autoregressive beam search: weight of the CTC head's prefix score in each hypothesis's
    score, the decoder's log-probability weighing the rest (joint CTC-attention decoding; 0:
    the decoder alone). Needs task.ctc_weight > 0 and decoder: beam."""
    class_weights: Literal["balanced", "none"] | list[float] = "none"
    """Classification: cross-entropy weight per class: none, balanced (inverse of each class's
    share of the training images), or one weight per class in data.classes order."""
    mixup: float = Field(0.0, ge=0)
    """Classification: MixUp's Beta(alpha, alpha) for training batches (0: off; 0.2 is usual)."""
    cutmix: float = Field(0.0, ge=0)
    """Classification: CutMix's alpha (0: off; 1.0 is usual). With mixup too, each batch gets
    one of the two at random."""
    score_threshold: float = Field(0.05, ge=0, lt=1)
    """Detection: boxes scoring below this are dropped before NMS (low, so mAP sees the
    whole precision-recall curve; predict --threshold raises it)."""
    nms_iou: float = Field(0.5, gt=0, le=1)
    """Detection: a box overlapping a higher-scoring box of its class by more IoU is dropped."""
    max_detections: int = Field(300, ge=1)
    """Detection: boxes kept per page after NMS, highest scores first."""

    @pydantic.model_validator(mode="after")
    def _lm_needs_beam(self) -> TaskConfig:
        if self.lm is not None and self.decoder != "beam":
            raise ValueError("task.lm is only used by decoder: beam")
        return self

    @pydantic.model_validator(mode="after")
    def _ctc_weight_needs_a_decoder(self) -> TaskConfig:
        if self.ctc_weight and self.name != "autoregressive":
            raise ValueError("task.ctc_weight is only used by task autoregressive")
        if self.ctc_decode_weight and not (self.ctc_weight and self.decoder == "beam"):
            raise ValueError(
                "task.ctc_decode_weight scores the beam search with the CTC head: it needs "
                "decoder: beam and task.ctc_weight > 0"
            )
        return self


class PlateauConfig(_Section):
    monitor: str | None = None
    """Validation metric ReduceLROnPlateau watches (None: trainer.monitor)."""
    mode: Literal["min", "max"] | None = None
    """Whether lower or higher is better (None: trainer.monitor_mode)."""
    factor: float = Field(0.5, gt=0, lt=1)
    """The learning rate is multiplied by this on a plateau."""
    patience: int = Field(2, ge=0)
    """Epochs without improvement before the learning rate is reduced."""


class StepDecayConfig(_Section):
    step_size: int = Field(10, ge=1)
    """Epochs between decays."""
    gamma: float = Field(0.1, gt=0, lt=1)
    """The learning rate is multiplied by this every step_size epochs."""


class OptimConfig(_Section):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    """Optimizer (torch.optim)."""
    lr: float = Field(1e-3, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled (AdamW) or L2 weight decay."""
    momentum: float = Field(0.9, ge=0)
    """SGD momentum (ignored by Adam variants)."""
    backbone_lr_multiplier: float = Field(1.0, gt=0)
    """Classification: the backbone trains at lr times this, the classifier block at lr (e.g.
    0.1 to fine-tune loaded weights gently)."""
    scheduler: Literal["none", "onecycle", "cosine", "plateau", "step"] = "onecycle"
    """Learning-rate schedule: onecycle and cosine step every optimizer step, plateau and step
    every epoch."""
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of the steps spent warming up (onecycle, cosine)."""
    plateau: PlateauConfig = PlateauConfig()
    """Options of scheduler: plateau (ReduceLROnPlateau)."""
    step: StepDecayConfig = StepDecayConfig()
    """Options of scheduler: step (StepLR)."""


class EarlyStoppingConfig(_Section):
    patience: int = Field(0, ge=0)
    """Stop after this many validations without improvement (0: no early stopping)."""
    monitor: str | None = None
    """Validation metric to watch (None: trainer.monitor)."""
    mode: Literal["min", "max"] | None = None
    """Whether lower or higher is better (None: trainer.monitor_mode)."""
    min_delta: float = Field(0.0, ge=0)
    """Smaller changes do not count as an improvement."""


class TrainerConfig(_Section):
    max_epochs: int = Field(10, ge=1)
    """Epochs to train."""
    accelerator: str = "auto"
    """Lightning accelerator: auto, cpu, gpu, mps..."""
    devices: int | str = "auto"
    """Lightning devices per node (processes under ddp: one per device); data.batch_size is
    per device, so the global batch is batch_size x devices x num_nodes."""
    strategy: Literal["auto", "ddp"] = "auto"
    """Lightning strategy: auto (one process), or ddp (one process per device, gradients
    averaged; launched by Lightning, torchrun or SLURM: docs/training.md)."""
    num_nodes: int = Field(1, ge=1)
    """Machines taking part in a ddp training (each runs devices processes)."""
    precision: Literal[
        "auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"
    ] = "auto"
    """Lightning precision: full, mixed (autocast) or true half precision; auto: bf16-mixed
    where the device multiplies bf16 natively (AVX512-BF16/AMX CPUs, bf16 GPUs), else 32-true."""
    gradient_clip_val: float | None = 5.0
    """Clip the gradient norm to this value (None: no clipping)."""
    accumulate_grad_batches: int = Field(1, ge=1)
    """Sum the gradients of this many batches before each optimizer step."""
    limit_train_batches: int | float = 1.0
    """Batches per training epoch (int >= 1) or share of them (float in (0, 1])."""
    limit_val_batches: int | float = 1.0
    """Batches per validation (int >= 1) or share of them (float in (0, 1])."""
    log_every_n_steps: int = Field(20, ge=1)
    """Step-level logging interval for TensorBoard."""
    deterministic: bool = True
    """Use deterministic algorithms (same config + seed = same metrics on one machine)."""
    monitor: str = "val/cer"
    """Metric that picks best.ckpt."""
    monitor_mode: Literal["min", "max"] = "min"
    """Whether lower or higher monitor values are better."""
    save_top_k: int = Field(1, ge=1)
    """Keep the k best checkpoints by monitor: best.ckpt plus best-epochN.ckpt files when k > 1."""
    checkpoint_every_minutes: float | None = Field(30.0, gt=0)
    """Also write last.ckpt inside an epoch, this many minutes of training after the last one
    (None: at the end of each epoch only): a run stopped mid-epoch resumes where it was."""
    min_lr: float = Field(0.0, ge=0)
    """Stop once every learning rate has fallen below this (0: never)."""
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    """Stop when a validation metric stops improving."""

    @pydantic.field_validator("limit_train_batches", "limit_val_batches")
    @classmethod
    def _some_batches(cls, limit: int | float) -> int | float:
        # 0 would train or validate on nothing and still report a metric.
        if isinstance(limit, int) and limit < 1:
            raise ValueError(f"expected a number of batches >= 1 or a share in (0, 1], got {limit}")
        if isinstance(limit, float) and not 0 < limit <= 1:
            raise ValueError(f"expected a share of the batches in (0, 1] or an int, got {limit}")
        return limit


#: Splits a command may evaluate: the three every dataset has, and the synthetic data's
#: ``test_shift`` (fonts and rendering styles held out from training).
EvalSplit = Literal["train", "val", "test", "test_shift"]
EVAL_SPLITS: tuple[str, ...] = get_args(EvalSplit)


class EvalSet(_Section):
    """An extra evaluation set: a split of the run's own dataset, or of another one."""

    split: EvalSplit = "test"
    """Split to evaluate: train, val, test, or test_shift (synthetic data only)."""
    data: dict[str, Any] = {}
    """Keys replacing the run's data section to read another dataset, e.g. ``{name:
    digits_lines, test_size: 500}`` (empty: the run's own dataset)."""


class EvalConfig(_Section):
    sets: dict[str, EvalSet] = {}
    """Extra sets reported next to the evaluated split (``inkbench eval``, ``train
    --eval-split``), by label, e.g. ``shift: {split: test_shift}``."""


class ProgressionConfig(_Section):
    """A learning progression: feature maps of fixed val images at init and after every epoch
    (``training/progression.py``; ``inkbench inspect progression`` draws them)."""

    layers: list[str] = Field(min_length=1)
    """Modules whose (B, C, H, W) outputs are recorded, named as ``named_modules`` names them
    (a classifier's: of its torchvision network, as ``inkbench features`` names them); checked
    against the model when training starts, before the run folder exists."""
    probe_images: int = Field(8, ge=1)
    """The first this many images (lines) of the val split, in the split's order."""
    channels: int = Field(16, ge=1)
    """Channels kept per layer (the first ones), stored as float16: bounds each epoch's file."""


class InspectConfig(_Section):
    progression: ProgressionConfig | None = None
    """Record a learning progression while training (None: off)."""


#: The family of each task kind, as ``tasks.TASKS`` registers it (a test holds the two equal:
#: the config cannot import the tasks, which import it).
TASK_FAMILIES: dict[str, str] = {
    "ctc": "ocr",
    "autoregressive": "ocr",
    "classification": "cls",
    "detection": "det",
}

#: Task settings of a line recognizer that a trained run can be decoded with other values of.
DECODING_KEYS = (
    "decoder",
    "beam_width",
    "lm",
    "lm_alpha",
    "lm_beta",
    "max_length",
    "ctc_decode_weight",
)

#: Keys only one family's tasks read. Another family's config must leave them at their
#: defaults, and ``Config.to_dict`` leaves them out, so a config.yaml lists what its run reads
#: (and OCR configs dump, and hash, as they did before classification existed).
FAMILY_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "ocr": {
        "data": ("height", "max_width", "charset", "preprocess", "augment"),
        "task": (*DECODING_KEYS, "ctc_weight"),
        "eval": ("sets",),
    },
    "cls": {
        "data": ("classes", "channels", "transforms"),
        "task": ("class_weights", "mixup", "cutmix"),
        "optim": ("backbone_lr_multiplier",),
    },
    "det": {
        "data": ("input",),
        "task": ("score_threshold", "nms_iou", "max_detections"),
    },
}

#: Defaults that differ by family, for the keys a config leaves out: classifiers read the
#: embedded character set, decode images in loader workers instead of caching them, and keep
#: the checkpoint with the best top-1 accuracy; detectors read synthetic pages and keep the
#: checkpoint with the best mAP@0.5.
FAMILY_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cls": {
        "data": {"name": "synthetic_chars", "cache": False},
        "trainer": {"monitor": "val/top1", "monitor_mode": "max"},
    },
    "det": {
        "data": {"name": "synthetic_pages"},
        "trainer": {"monitor": "val/map50", "monitor_mode": "max"},
    },
}


class Config(_Section):
    seed: int = 1234
    """Seeds Python, NumPy, torch and data rendering."""
    name: str = "run"
    """Default run-folder suffix (`--name` overrides)."""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    task: TaskConfig = TaskConfig()
    optim: OptimConfig = OptimConfig()
    trainer: TrainerConfig = TrainerConfig()
    eval: EvalConfig = EvalConfig()
    """What evaluating the trained run reports besides the chosen split."""
    inspect: InspectConfig = InspectConfig()
    """What training records to look inside the network later (``inkbench inspect``)."""

    @property
    def family(self) -> str:
        """The task family: ``ocr``, ``cls`` or ``det``."""
        return TASK_FAMILIES[self.task.name]

    def to_dict(self) -> dict[str, Any]:
        """Every key the run reads (other families' keys left out), as plain data."""
        unread: dict[str, set[str]] = {}
        for family, sections in FAMILY_KEYS.items():
            if family != self.family:
                for section, keys in sections.items():
                    unread.setdefault(section, set()).update(keys)
        return self.model_dump(mode="json", exclude=unread)  # type: ignore[arg-type]


def batch_size_or_default(cfg: Config, batch_size: int | None) -> int:
    """``batch_size`` (a command's ``--batch-size``) if given, else ``data.batch_size``; a
    batch size below 1 is an error, never an empty evaluation or a silent default."""
    if batch_size is None:
        return cfg.data.batch_size
    if batch_size < 1:
        raise InkbenchError(f"batch size {batch_size}: expected a positive number of items")
    return batch_size


def data_with(cfg: Config, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg``'s data section, as a raw dict, with ``changes`` applied.

    A new ``name`` drops the old dataset's own options (``train_size`` means nothing to
    another dataset); the shared keys (height, charset, normalization...) stay, so the lines
    are prepared exactly as the model was trained.
    """
    section = cfg.data.model_dump(mode="json")
    if "name" in changes and changes["name"] != cfg.data.name:
        for option in cfg.data.options:
            section.pop(option, None)
    return {**section, **changes}


#: What PyYAML raises on text besides YAMLError: its constructors' own exceptions for tagged
#: values and dates they cannot build (``!!int x``, ``!!bool x``, ``2001-02-30``).
_CONSTRUCTOR_ERRORS = (ValueError, KeyError, TypeError, OverflowError, RecursionError)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a","b","c"], value parsed as a YAML scalar)."""
    key, sep, raw = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise InkbenchError(f"override {text!r}: expected KEY=VALUE with a dotted key, e.g. a.b=1")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except (yaml.YAMLError, *_CONSTRUCTOR_ERRORS):
        value = raw  # not YAML: the text as typed
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise InkbenchError(f"override {text!r}: {where} is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML config file; a missing, unreadable, malformed or empty
    file is an error naming it."""
    if not path.is_file():
        raise InkbenchError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InkbenchError(f"{path}:{where}: {problem}") from None
    except _CONSTRUCTOR_ERRORS as exc:
        raise InkbenchError(f"{path}: a value YAML cannot build ({exc})") from None
    if raw is None or raw == {}:
        # Every key has a default, so an empty file would train a whole run on the defaults
        # under the name "run": almost always the wrong file, or one saved before it was written.
        raise InkbenchError(
            f"{path}: no settings (the file is empty or holds only comments); expected a "
            "mapping of sections such as data:, model:, trainer:"
        )
    if not isinstance(raw, dict):
        raise InkbenchError(f"{path}: expected a mapping of sections at the top level")
    return raw


def validate_config(raw: dict[str, Any], source: str = "config") -> Config:
    """Check every section, then the registry-specific model and data options."""
    from inkbench.data.datasets import DATASETS, PROVIDED_DATASET_ARGS
    from inkbench.models import MODELS, PROVIDED_MODEL_ARGS
    from inkbench.models.registry import model_objective

    try:
        cfg = Config.model_validate(with_family_defaults(raw))
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{source}: {format_validation_error(exc)}") from None
    _check_family_keys(cfg, source)
    try:
        model_opts = MODELS.validate(
            cfg.model.name, cfg.model.options, "model", PROVIDED_MODEL_ARGS, cfg.family
        )
        DATASETS.get(cfg.data.name, "data.name", cfg.family)
    except InkbenchError as exc:
        raise InkbenchError(f"{source}: {exc}") from None
    objective = model_objective(cfg.model.name)
    if objective != cfg.task.name:
        raise InkbenchError(
            f"{source}: task.name: model {cfg.model.name!r} trains with task {objective!r}, "
            f"got {cfg.task.name!r}"
        )
    # Before the dataset's options: another family's dataset makes them all look wrong.
    data_family = DATASETS.family(cfg.data.name)
    if data_family != cfg.family:
        raise InkbenchError(
            f"{source}: data.name: dataset {cfg.data.name!r} is read by {data_family} tasks; "
            f"task {cfg.task.name!r} reads one of: {', '.join(DATASETS.names(cfg.family))}"
        )
    try:
        data_opts = DATASETS.validate(
            cfg.data.name, cfg.data.options, "data", PROVIDED_DATASET_ARGS
        )
    except InkbenchError as exc:
        raise InkbenchError(f"{source}: {exc}") from None
    for key, value in model_opts.items():
        setattr(cfg.model, key, value)
    for key, value in data_opts.items():
        setattr(cfg.data, key, value)
    for label, eval_set in cfg.eval.sets.items():
        if eval_set.data:
            _check_set_data(cfg, eval_set.data, f"eval.sets.{label}.data", source)
    return cfg


def with_family_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with its task family's defaults (``FAMILY_DEFAULTS``) where it sets no value."""
    task = raw.get("task")
    name = task.get("name") if isinstance(task, dict) else None
    family = TASK_FAMILIES.get(name) if isinstance(name, str) else None  # else pydantic refuses
    out = dict(raw)
    for section, defaults in FAMILY_DEFAULTS.get(family or "", {}).items():
        given = out.get(section, {})
        if isinstance(given, dict):  # anything else is pydantic's to refuse
            out[section] = {**defaults, **given}
    return out


def _check_family_keys(cfg: Config, source: str) -> None:
    """Refuse another task family's key set to anything but its default (``FAMILY_KEYS``)."""
    for family, sections in FAMILY_KEYS.items():
        if family == cfg.family:
            continue
        for name, keys in sections.items():
            section = getattr(cfg, name)
            for key in keys:
                default = type(section).model_fields[key].get_default(call_default_factory=True)
                if getattr(section, key) != default:
                    raise InkbenchError(
                        f"{source}: {name}.{key}: read by {family} tasks only, not by task "
                        f"{cfg.task.name!r}; remove it"
                    )


def _check_set_data(cfg: Config, data: Mapping[str, Any], key: str, source: str) -> None:
    """Fail at load time, naming ``key``, if ``data`` does not make a valid data section."""
    from inkbench.data.datasets import DATASETS, PROVIDED_DATASET_ARGS

    try:
        section = DataConfig.model_validate(data_with(cfg, data))
    except pydantic.ValidationError as exc:
        raise InkbenchError(f"{source}: {format_validation_error(exc, key)}") from None
    try:
        DATASETS.validate(section.name, section.options, key, PROVIDED_DATASET_ARGS)
    except InkbenchError as exc:
        raise InkbenchError(f"{source}: {exc}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply ``a.b=value`` overrides, validate everything."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), list(overrides or []))
    return validate_config(raw, str(path))


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
