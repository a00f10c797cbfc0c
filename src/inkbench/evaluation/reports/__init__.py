"""Evaluation reports: ``report.md`` plus PNGs in a run folder (OCR, classification)."""
