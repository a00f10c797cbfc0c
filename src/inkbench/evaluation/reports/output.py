"""Writing a report into a folder: ``report.md`` and its images under ``report/``."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from inkbench.files import write_atomic

REPORT_FILE = "report.md"
IMAGE_DIR = "report"


class Report(Protocol):
    """What a report provides: its figures and the markdown that links them."""

    def save_figures(self, out_dir: Path) -> None: ...

    def markdown(self, title: str, image_dir: str) -> str: ...


def write_report(folder: Path, report: Report, title: str) -> Path:
    """Write ``folder/report.md`` and ``folder/report/*.png``; returns the markdown file.

    The figures are drawn into a temporary folder first: a failure leaves the previous
    report (or none) in place, never a mix of old and new images.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".report-"))
    staging.chmod(0o755)  # mkdtemp makes it private; the run folder is not
    try:
        report.save_figures(staging)
        text = report.markdown(title, IMAGE_DIR)
        target = folder / IMAGE_DIR
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=folder, prefix=".report-old-"))
            os.replace(target, old / IMAGE_DIR)
            shutil.rmtree(old)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_atomic(folder / REPORT_FILE, text.encode("utf-8"))
    return folder / REPORT_FILE


def md_code(text: str) -> str:
    """``text`` as an inline code span that survives a markdown table cell."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"
