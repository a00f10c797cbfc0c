"""Progress and result lines reach logs whole: no wrapping, no markup."""

from __future__ import annotations

import pytest

from inkbench.console import line_console


def test_log_lines_print_brackets_and_long_lines_whole(capsys: pytest.CaptureFixture[str]) -> None:
    text = "[crnn] " + "x" * 200
    line_console().print(text)
    assert capsys.readouterr().out == text + "\n"
