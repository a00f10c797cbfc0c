"""OCR evaluation report: where a line recognizer fails, not only how often.

CER/WER overall and per source (font, writer, folder), the characters it confuses (from
the Levenshtein alignment of each line), CER by line length, and the worst lines drawn
with their predictions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rapidfuzz.distance import Levenshtein

from inkbench.evaluation.evaluate import LinePrediction, error_rates, predict_split
from inkbench.evaluation.reports.gallery import save_gallery
from inkbench.evaluation.reports.output import md_code, write_report
from inkbench.runs.store import Run

MISSING = "∅"  # the empty side of an insertion or deletion


def line_cer(p: LinePrediction) -> float:
    return Levenshtein.distance(p.prediction, p.text) / max(len(p.text), 1)


def char_confusions(predictions: Sequence[LinePrediction]) -> Counter[tuple[str, str]]:
    """Counts of (truth, predicted) character pairs from each line's edit operations.

    A substitution is ``(a, b)``, a deleted truth character ``(a, "∅")``, an inserted one
    ``("∅", b)``.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for p in predictions:
        for op in Levenshtein.editops(p.text, p.prediction):
            if op.tag == "replace":
                counts[p.text[op.src_pos], p.prediction[op.dest_pos]] += 1
            elif op.tag == "delete":
                counts[p.text[op.src_pos], MISSING] += 1
            else:
                counts[MISSING, p.prediction[op.dest_pos]] += 1
    return counts


def length_buckets(predictions: Sequence[LinePrediction], width: int) -> list[dict[str, Any]]:
    """Error rates of lines grouped by reference length: 1-width, width+1-2*width, ..."""
    groups: dict[int, list[LinePrediction]] = {}
    for p in predictions:
        groups.setdefault(max(len(p.text) - 1, 0) // width, []).append(p)
    return [
        {"min_len": k * width + 1, "max_len": (k + 1) * width, **error_rates(groups[k])}
        for k in sorted(groups)
    ]


def worst_lines(predictions: Sequence[LinePrediction], count: int) -> list[LinePrediction]:
    """The ``count`` lines with the highest CER (lines read correctly never count)."""
    ranked = sorted(predictions, key=lambda p: (-line_cer(p), p.index))
    return [p for p in ranked[:count] if line_cer(p) > 0]


@dataclass
class OcrReport:
    """Error analysis of one split's predictions; ``predictions`` are in index order."""

    run: str
    split: str
    checkpoint: str
    predictions: list[LinePrediction]
    images: dict[int, np.ndarray]
    """Line images (as the model saw them) for the worst lines, by index."""
    worst_count: int = 12
    length_width: int = 10

    @classmethod
    def from_run(
        cls,
        run: Run,
        split: str = "test",
        checkpoint: str = "best",
        batch_size: int | None = None,
        worst_count: int = 12,
        decoding: Mapping[str, Any] | None = None,
    ) -> OcrReport:
        predictions, data = predict_split(run, split, checkpoint, batch_size, decoding)
        worst = worst_lines(predictions, worst_count)
        images = {p.index: data.load(p.index)[0] for p in worst}
        return cls(run.name, split, checkpoint, predictions, images, worst_count)

    def worst(self) -> list[LinePrediction]:
        return worst_lines(self.predictions, self.worst_count)

    def by_source(self) -> list[dict[str, Any]]:
        """Error rates per source, worst first."""
        groups: dict[str, list[LinePrediction]] = {}
        for p in self.predictions:
            groups.setdefault(p.source, []).append(p)
        rows = [{"source": s, **error_rates(g)} for s, g in groups.items()]
        return sorted(rows, key=lambda r: (-r["cer"], r["source"]))

    def to_json(self, top: int = 20) -> dict[str, Any]:
        confusions = char_confusions(self.predictions)
        return {
            "run": self.run,
            "split": self.split,
            "checkpoint": self.checkpoint,
            **error_rates(self.predictions),
            "by_source": self.by_source(),
            "confusions": [
                {"truth": a, "predicted": b, "count": n}
                for (a, b), n in confusions.most_common(top)
            ],
            "by_length": length_buckets(self.predictions, self.length_width),
            "worst": [{**vars(p), "cer": line_cer(p)} for p in self.worst()],
        }

    def save_figures(self, out_dir: Path) -> None:
        self._plot_length(out_dir / "cer_by_length.png")
        worst = self.worst()
        if worst:
            save_gallery(
                [self.images[p.index] for p in worst],
                [
                    f"#{p.index}  {p.source}  CER {line_cer(p):.2f}\n"
                    f"truth: {p.text}\npred:  {p.prediction}"
                    for p in worst
                ],
                out_dir / "worst_lines.png",
                cell_width_in=9.0,
                title=f"{self.run} / {self.split}: the {len(worst)} lines with the highest CER",
            )

    def _plot_length(self, out: Path) -> None:
        rows = length_buckets(self.predictions, self.length_width)
        labels = [f"{r['min_len']}-{r['max_len']}" for r in rows]
        fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
        bars = ax.bar(labels, [r["cer"] for r in rows], color="tab:blue")
        ax.bar_label(bars, labels=[f"n={r['lines']}" for r in rows], fontsize=8)
        ax.set_xlabel("reference length (characters)")
        ax.set_ylabel("CER")
        ax.set_title(f"CER by line length ({self.split})")
        ax.margins(y=0.15)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out)
        plt.close(fig)

    def markdown(self, title: str, image_dir: str, top: int = 15) -> str:
        data = self.to_json(top)
        lines = [
            f"# {title}",
            "",
            f"Run `{self.run}`, split `{self.split}`, checkpoint `{self.checkpoint}`, "
            f"written {datetime.now().isoformat(timespec='seconds')}.",
            "",
            "| lines | characters | CER | WER |",
            "|---:|---:|---:|---:|",
            f"| {data['lines']} | {data['chars']} | {data['cer']:.4f} | {data['wer']:.4f} |",
            "",
            "## By source",
            "",
            "| source | lines | CER | WER |",
            "|---|---:|---:|---:|",
            *(
                f"| {r['source']} | {r['lines']} | {r['cer']:.4f} | {r['wer']:.4f} |"
                for r in data["by_source"]
            ),
            "",
            "## Most confused characters",
            "",
            f"From the edit alignment of every line; {MISSING} is a missing character "
            f"(truth {MISSING}: inserted, predicted {MISSING}: deleted).",
            "",
        ]
        edits = sum(char_confusions(self.predictions).values())
        if edits:
            lines += [
                "| truth | predicted | count | share of edits |",
                "|---|---|---:|---:|",
                *(
                    f"| {_char(c['truth'])} | {_char(c['predicted'])} | {c['count']} | "
                    f"{c['count'] / edits:.1%} |"
                    for c in data["confusions"]
                ),
            ]
        else:
            lines.append("No character errors.")
        lines += [
            "",
            "## CER by line length",
            "",
            "| length | lines | CER |",
            "|---|---:|---:|",
            *(
                f"| {r['min_len']}-{r['max_len']} | {r['lines']} | {r['cer']:.4f} |"
                for r in data["by_length"]
            ),
            "",
            f"![CER by line length]({image_dir}/cer_by_length.png)",
            "",
            "## Worst lines",
            "",
        ]
        if data["worst"]:
            lines += [
                f"![worst lines]({image_dir}/worst_lines.png)",
                "",
                "| line | source | CER | truth | prediction |",
                "|---:|---|---:|---|---|",
                *(
                    f"| {w['index']} | {w['source']} | {w['cer']:.2f} | {md_code(w['text'])} | "
                    f"{md_code(w['prediction'])} |"
                    for w in data["worst"]
                ),
            ]
        else:
            lines.append("Every line is read correctly.")
        return "\n".join(lines) + "\n"


def _char(c: str) -> str:
    return {" ": "␣ (space)", MISSING: MISSING}.get(c) or md_code(c)


def report_run(
    run: Run,
    split: str = "test",
    checkpoint: str = "best",
    batch_size: int | None = None,
    decoding: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a run on a split and write its ``report.md``; returns scores and the file.

    ``decoding`` replaces the run's decoding settings, as for ``evaluate``.
    """
    report = OcrReport.from_run(run, split, checkpoint, batch_size, decoding=decoding)
    path = write_report(run.path, report, f"Evaluation report: {run.name}")
    rates = error_rates(report.predictions)
    return {
        "cer": rates["cer"],
        "wer": rates["wer"],
        "n": rates["lines"],
        "split": split,
        "run": str(run.path),
        "report": str(path),
    }
