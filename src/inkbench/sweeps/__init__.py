"""Hyperparameter sweeps: Optuna studies whose trials are ordinary run folders."""
