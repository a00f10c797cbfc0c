"""Exporting trained runs (ONNX, TorchScript) and serving ONNX files with onnxruntime.

``run.export_run`` writes a run's network; ``runtime.load_onnx`` serves an ONNX export behind
the same ``Recognizer`` or ``Classifier`` as the checkpoint. Above ``evaluation`` (it rebuilds
runs as inference does) and beside ``inspect``; nothing below imports it. Imports are left to
the modules so ``import inkbench.export`` does not load onnx or onnxruntime.
"""
