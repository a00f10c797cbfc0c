"""Properties of the config loader and the dotted override parser, on generated input: what
parses comes back unchanged, and anything else is an InkbenchError (one `error:` line), never
another exception."""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inkbench.config import Config, apply_overrides, load_config, parse_override
from inkbench.errors import InkbenchError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Key parts as a user writes them: no "=", no ".", not empty.
key_parts = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
dotted_keys = st.lists(key_parts, min_size=1, max_size=4)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
#: Anything a YAML value can hold: scalars, lists and mappings of them.
yaml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key_parts, inner, max_size=3),
    max_leaves=8,
)

#: The config's own sections and some of their keys, so generated configs get past the
#: unknown-key check often enough to reach the deeper validation.
SECTION_KEYS = {
    "data": ["name", "path", "batch_size", "height", "charset", "num_workers", "subset",
             "classes", "channels", "normalize", "augment", "preprocess", "transforms"],
    "model": ["name", "hidden", "channels", "lstm_layers", "dropout"],
    "task": ["name", "decoder", "beam_width", "lm", "max_length", "class_weights"],
    "optim": ["name", "lr", "scheduler", "plateau", "step"],
    "trainer": ["max_epochs", "precision", "devices", "limit_train_batches", "monitor"],
    "eval": ["sets"],
}  # fmt: skip
sections = st.sampled_from(sorted(SECTION_KEYS)).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.dictionaries(st.sampled_from(SECTION_KEYS[name]) | key_parts, yaml_values, max_size=4),
    )
)
raw_configs = st.dictionaries(
    st.sampled_from(["seed", "name"]) | key_parts, yaml_values, max_size=2
).flatmap(lambda top: st.lists(sections, max_size=4).map(lambda s: {**top, **dict(s)}))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


@SETTINGS
@given(dotted_keys, scalars)
def test_an_override_round_trips(key: list[str], value: Any) -> None:
    written = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    written = written.removesuffix("\n...\n").removesuffix("\n")
    path, parsed = parse_override(".".join(key) + "=" + written)
    assert path == key
    assert same(parsed, value) or (value is None and written == "null" and parsed is None)


@SETTINGS
@given(st.text(max_size=40))
def test_any_override_text_parses_or_is_an_inkbench_error(text: str) -> None:
    try:
        path, _ = parse_override(text)
    except InkbenchError:
        assert "=" not in text or text.partition("=")[0].split(".").count("") > 0
        return
    assert path == text.partition("=")[0].split(".") and all(path)


@SETTINGS
@given(st.lists(st.text(max_size=20), max_size=5))
def test_applying_any_overrides_builds_a_mapping_or_is_an_inkbench_error(
    overrides: list[str],
) -> None:
    try:
        raw = apply_overrides({"data": {"name": "folder"}, "seed": 1}, overrides)
    except InkbenchError:
        return
    assert isinstance(raw, dict)


def load(tmp_path: Path, text: str | bytes) -> Config | None:
    """``text`` loaded as a config file: the Config, or None after an InkbenchError."""
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        return load_config(path)
    except InkbenchError as exc:
        assert str(exc)  # the CLI prints it as the whole error line
        return None


@SETTINGS
@given(raw_configs)
def test_any_config_mapping_loads_or_is_an_inkbench_error(tmp_path: Path, raw: dict) -> None:
    cfg = load(tmp_path, yaml.safe_dump(raw))
    if cfg is not None:  # what loads is what was written, re-validated from its own dump
        assert load(tmp_path, yaml.safe_dump(cfg.to_dict())) == cfg


@SETTINGS
@given(st.text(max_size=200))
def test_any_config_text_loads_or_is_an_inkbench_error(tmp_path: Path, text: str) -> None:
    load(tmp_path, text)


#: YAML fragments that PyYAML turns into exceptions other than YAMLError (tags it cannot
#: construct, impossible dates), mixed into otherwise plain config text.
TRICKY = ["!!int x", "!!float x", "!!bool x", "2001-02-30", "!!timestamp 2020-99-99", "&a [*a]"]


@SETTINGS
@given(st.sampled_from(["seed", "name", "data", "trainer"]), st.sampled_from(TRICKY))
def test_values_pyyaml_cannot_construct_are_inkbench_errors(
    tmp_path: Path, key: str, value: str
) -> None:
    assert load(tmp_path, f"{key}: {value}\n") is None
    path, parsed = parse_override(f"{key}={value}")
    assert path == [key]
    assert parsed == value or value.startswith("&")  # kept as typed (an alias is YAML's)


@SETTINGS
@given(st.binary(max_size=200))
def test_any_bytes_load_or_are_an_inkbench_error(tmp_path: Path, data: bytes) -> None:
    load(tmp_path, data)
