"""nodebase: a Python backend node."""

__version__ = "0.1.0"
