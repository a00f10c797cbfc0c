"""inkbench: a workbench for handwriting recognition and vision models."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `inkbench.profile` is imported on first use: `import inkbench` stays cheap (no torch).
    if name == "profile":
        from inkbench.profiling import profile

        return profile
    raise AttributeError(f"module 'inkbench' has no attribute {name!r}")
