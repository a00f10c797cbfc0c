"""What every page dataset (family ``det``) shares, parametrized over the registry."""

import inspect

import pytest

import inkbench.data  # noqa: F401  (registers the datasets)
from inkbench.config import DataConfig
from inkbench.data.datasets import DATASETS, PROVIDED_DATASET_ARGS

PAGE_DATASETS = DATASETS.names("det")


def test_the_page_datasets_are_registered() -> None:
    assert {"synthetic_pages", "coco", "iam_forms"} <= set(PAGE_DATASETS)


@pytest.mark.parametrize("name", PAGE_DATASETS)
def test_no_option_is_shadowed_by_a_data_field_or_a_provided_argument(name: str) -> None:
    # `data.height` (the OCR line height) is a field of the data section and an argument the
    # framework passes: an option of that name could never reach the builder from a config.
    options = set(inspect.signature(DATASETS.get(name)).parameters) - {"split", "seed"}
    assert not options & (set(DataConfig.model_fields) | set(PROVIDED_DATASET_ARGS))
