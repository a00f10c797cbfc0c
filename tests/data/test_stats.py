"""`data stats`: the streaming, multi-process moments equal a two-pass numpy computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from inkbench.cli import main
from inkbench.config import load_config
from inkbench.data.datamodule import build_split
from inkbench.data.lines import line_to_tensor
from inkbench.data.stats import Moments, pixel_stats


def test_stats_equal_two_pass_numpy(tiny_config_file: Path) -> None:
    cfg = load_config(tiny_config_file, ["data.num_workers=2"])
    # Chunks of 3 lines: 6 partial results from 2 processes are merged.
    stats = pixel_stats(cfg, chunk=3)
    data = build_split(cfg, "train")
    pixels = np.concatenate(
        [line_to_tensor(data.load(i)[0]).numpy().reshape(1, -1) for i in range(len(data))], axis=1
    ).astype(np.float64)
    assert stats["lines"] == 16 and stats["pixels"] == pixels.shape[1]
    np.testing.assert_allclose(stats["mean"], pixels.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], pixels.std(axis=1), rtol=1e-12)


def test_chan_merge_is_exact_where_sums_of_squares_are_not() -> None:
    rng = np.random.default_rng(0)
    x = 1e6 + rng.random((2, 1000))  # large offset: E[x^2] - E[x]^2 cancels catastrophically
    merged = Moments.of(x[:, :300]).merge(Moments.of(x[:, 300:700])).merge(Moments.of(x[:, 700:]))
    np.testing.assert_allclose(merged.mean, x.mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(merged.std, x.std(axis=1), rtol=1e-9)
    naive = np.sqrt((x**2).mean(axis=1) - x.mean(axis=1) ** 2)
    assert np.abs(naive / x.std(axis=1) - 1).max() > 1e-6


def test_stats_write_keeps_the_file_and_normalizes_training(
    tiny_config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config_file
    config.write_text("# keep me\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["data", "stats", str(config), "--write", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# keep me\n")
    written = yaml.safe_load(text)["data"]["normalize"]
    assert written["mean"] == pytest.approx(stats["mean"], abs=1e-6)
    assert written["std"] == pytest.approx(stats["std"], abs=1e-6)
    assert load_config(config).data.normalize is not None
