"""The tuning tools run in one process, whatever the config's strategy."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkbench.config import load_config
from inkbench.errors import InkbenchError
from inkbench.training.tuning import tuning_trainer


def test_the_tuning_tools_run_in_one_process(tiny_config_file: Path, tmp_path: Path) -> None:
    # What they find holds per device; under ddp each process would search on its own.
    ddp = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
    with pytest.raises(InkbenchError, match="2 processes; the tuning tools run in one"):
        tuning_trainer(load_config(tiny_config_file, ddp), tmp_path)
