"""Registries: unique names, families recorded, misses list the choices."""

from __future__ import annotations

import pytest

from inkbench.data.datasets import DATASETS
from inkbench.errors import InkbenchError
from inkbench.models import MODELS
from inkbench.registry import Registry
from inkbench.tasks import TASKS


def test_family_is_recorded_and_selects_names() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("b", family="cls")(object)
    reg.register("a", family="ocr")(object)
    reg.register("c", family="ocr")(object)
    assert reg.names() == ["a", "b", "c"]
    assert reg.names("ocr") == ["a", "c"]
    assert reg.family("b") == "cls"
    assert reg.families() == ["cls", "ocr"]


def test_duplicate_name_is_refused_even_in_another_family() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("a", family="ocr")(object)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", family="cls")(object)


def test_unknown_name_lists_the_choices() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("a", family="ocr")(object)
    with pytest.raises(InkbenchError, match=r"model\.name: unknown widget 'x'; choose one of: a$"):
        reg.get("x", "model.name")


@pytest.mark.parametrize("registry", [MODELS, DATASETS, TASKS], ids=lambda r: r.kind)
def test_every_entry_of_the_shipped_registries_has_a_family(registry: Registry[object]) -> None:
    assert registry.names()
    assert all(registry.family(name) in registry.families() for name in registry.names())
    by_family = [name for family in registry.families() for name in registry.names(family)]
    assert sorted(by_family) == registry.names()
