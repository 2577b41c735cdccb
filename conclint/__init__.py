"""conclint: a static concurrency bug detector for Python machine-learning code."""

__version__ = "0.1.0"
