"""``trainer.precision: auto`` picks bf16 autocast only where the CPU computes bf16 natively."""

from __future__ import annotations

import pytest

from inkbench.training import precision
from inkbench.training.precision import resolve_precision


@pytest.mark.parametrize("native", [True, False])
def test_auto_resolves_on_the_cpu_and_explicit_values_pass_through(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    expected = "bf16-mixed" if native else "32-true"
    assert resolve_precision("auto", "auto") == expected
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "mps") == "32-true"
    for explicit in ("32-true", "bf16-mixed", "16-mixed", "64-true"):
        assert resolve_precision(explicit, "cpu") == explicit
