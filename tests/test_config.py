from pathlib import Path

import pytest
import yaml

from inkbench.bench.suite import load_suite, suite_configs
from inkbench.config import EvalSet, load_config, parse_override, save_config
from inkbench.errors import InkbenchError
from inkbench.sweeps.spec import load_sweep


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_configs_load() -> None:
    configs = Path(__file__).parents[1] / "configs"
    for path in [*configs.glob("ocr/*.yaml"), *configs.glob("cls/*.yaml")]:
        assert load_config(path).model.name
    for path in configs.glob("sweeps/*.yaml"):
        assert load_sweep(path).space
    for path in configs.glob("bench/*.yaml"):
        assert suite_configs(load_suite(path), path)


def test_overrides_are_typed(tiny_config_file: Path) -> None:
    cfg = load_config(
        tiny_config_file, ["trainer.max_epochs=5", "optim.lr=3e-4", "model.hidden=12"]
    )
    assert cfg.trainer.max_epochs == 5
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.model.hidden == 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.b=1", (["a", "b"], 1)),
        ("a=x y", (["a"], "x y")),
        ("a.b=[1, 2]", (["a", "b"], [1, 2])),
        ("a=true", (["a"], True)),
        ("a=", (["a"], "")),
    ],
)
def test_parse_override(text: str, expected: tuple) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=1", "a..b=1"])
def test_bad_override_syntax(text: str) -> None:
    with pytest.raises(InkbenchError, match="KEY=VALUE"):
        parse_override(text)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epoch=3"], r"trainer\.max_epoch: unknown key"),
        (["trainer.max_epochs=abc"], r"trainer\.max_epochs: .*integer.*'abc'"),
        (["trainer.checkpoint_every_minutes=0"], r"trainer\.checkpoint_every_minutes: .*greater"),
        (["model.name=nope"], r"model\.name: unknown model 'nope'; choose one of: .*crnn"),
        (["data.name=nope"], r"data\.name: unknown dataset 'nope'; choose one of: .*folder"),
        (["model.hiden=3"], r"model\.hiden: unknown option for model 'crnn'; valid options: "),
        (["model.hidden=big"], r"model\.hidden: .*integer"),
        (["model.num_classes=3"], r"model\.num_classes: unknown option"),
        (["optim.name=lbfgs"], r"optim\.name: .*'adamw'"),
        (["seed.x=1"], r"seed is a value, not a section"),
        (["eval.sets.shift.split=tset"], r"eval\.sets\.shift\.split: .*'test_shift', got 'tset'"),
        (["eval.sets.shift.splits=test"], r"eval\.sets\.shift\.splits: unknown key"),
        (["eval.sets.x.data.name=nope"], r"eval\.sets\.x\.data\.name: unknown dataset 'nope'"),
        (["eval.sets.x.data.sizes=3"], r"eval\.sets\.x\.data\.sizes: unknown option for "),
        (["eval.sets.x.data.height=4"], r"eval\.sets\.x\.data\.height: .*greater than"),
    ],
)
def test_config_errors_name_the_key(
    tiny_config_file: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(InkbenchError, match=message) as info:
        load_config(tiny_config_file, overrides)
    assert str(tiny_config_file) in str(info.value) or "override" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InkbenchError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    with pytest.raises(InkbenchError, match=r"c\.yaml: line 2"):
        load_config(write(tmp_path, "seed: 1\ndata: a: b\n"))


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(InkbenchError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_defaults_fill_missing_sections(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, yaml.safe_dump({"seed": 3})))
    assert cfg.seed == 3
    assert cfg.model.name == "crnn"
    assert cfg.trainer.accelerator == "auto"


def test_eval_sets_survive_the_round_trip(tiny_config_file: Path, tmp_path: Path) -> None:
    overrides = ["eval.sets.shift.split=test_shift", "eval.sets.digits.data.name=digits_lines"]
    cfg = load_config(tiny_config_file, [*overrides, "eval.sets.digits.data.test_size=5"])
    assert cfg.eval.sets == {
        "shift": EvalSet(split="test_shift"),
        "digits": EvalSet(split="test", data={"name": "digits_lines", "test_size": 5}),
    }
    save_config(cfg, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert again.eval == cfg.eval and again.to_dict() == cfg.to_dict()
    assert list(again.eval.sets) == ["shift", "digits"]  # the order of the report's lines


def test_a_sets_data_is_checked_against_its_own_dataset(tiny_config_file: Path) -> None:
    # The run reads a folder; the set's new name drops the folder's path, and synthetic
    # options are valid for it.
    cfg = load_config(
        tiny_config_file,
        ["eval.sets.s.data.name=synthetic", "eval.sets.s.data.test_size=4"],
    )
    assert cfg.eval.sets["s"].data == {"name": "synthetic", "test_size": 4}
    with pytest.raises(InkbenchError, match=r"eval\.sets\.s\.data\.path: unknown option"):
        load_config(
            tiny_config_file, ["eval.sets.s.data.name=synthetic", "eval.sets.s.data.path=x"]
        )


def test_task_families_are_the_registry_s() -> None:
    from typing import get_args

    from inkbench.config import TASK_FAMILIES, TaskConfig
    from inkbench.tasks import TASKS

    assert {name: TASKS.family(name) for name in TASKS.names()} == TASK_FAMILIES
    assert set(get_args(TaskConfig.model_fields["name"].annotation)) == set(TASK_FAMILIES)


def test_a_classification_config_reads_and_writes_its_own_keys(tmp_path: Path) -> None:
    from inkbench.config import FAMILY_KEYS, Config

    cfg = load_config(write(tmp_path, "task: {name: classification}\nmodel: {name: small_cnn}\n"))
    # The family's defaults for what the file leaves out.
    assert (cfg.data.name, cfg.data.cache) == ("synthetic_chars", False)
    assert (cfg.trainer.monitor, cfg.trainer.monitor_mode) == ("val/top1", "max")
    dumped, ocr = cfg.to_dict(), Config().to_dict()
    for family, sections in FAMILY_KEYS.items():
        for section, keys in sections.items():
            for key in keys:  # each family's config.yaml has its own keys and no others
                assert (key in dumped[section]) == (family == "cls"), key
                assert (key in ocr[section]) == (family == "ocr"), key
    copy = tmp_path / "copy.yaml"
    save_config(cfg, copy)
    assert load_config(copy) == cfg
    # Set explicitly, a family default gives way.
    kept = load_config(write(tmp_path, "task: {name: classification}\nmodel: {name: small_cnn}\n"
                                       "data: {cache: true}\n"))  # fmt: skip
    assert kept.data.cache is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task: {name: classification, decoder: beam}\nmodel: {name: small_cnn}\n",
         "task.decoder: read by ocr tasks only, not by task 'classification'; remove it"),
        ("task: {mixup: 0.2}\n", "task.mixup: read by cls tasks only, not by task 'ctc'"),
        ("data: {transforms: {size: 64}}\n", "data.transforms: read by cls tasks only"),
        ("optim: {backbone_lr_multiplier: 0.1}\n", "optim.backbone_lr_multiplier: read by cls"),
        ("task: {name: classification}\nmodel: {name: crnn}\n",
         "task.name: model 'crnn' trains with task 'ctc', got 'classification'"),
        ("data: {name: digits}\n", "data.name: dataset 'digits' is read by cls tasks; task 'ctc' "
                                   "reads one of: digits_lines,"),
        ("task: {name: classification}\nmodel: {name: resnet18, in_channels: 1}\n",
         "model.in_channels: unknown option for model 'resnet18'"),
        ("task: {name: classification}\nmodel: {name: small_cnn}\ndata: {classes: [a, b, a]}\n",
         "data.classes: Value error, class 'a' is named more than once"),
        ("task: {name: classification}\nmodel: {name: small_cnn}\n"
         "data: {transforms: {crop_padding: 4}}\n", "crop_padding is used by crop: random only"),
    ],
)  # fmt: skip
def test_keys_of_another_task_family_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InkbenchError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
