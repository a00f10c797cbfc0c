"""Text box detectors (family ``det``): one family per file, each a ``Detector``."""
