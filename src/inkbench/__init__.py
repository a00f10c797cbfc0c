"""inkbench: a workbench for handwriting recognition and vision models."""

__version__ = "0.1.0"
