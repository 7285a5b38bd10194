"""dipper: an open retail-credit platform for small and mid-size banks."""

__version__ = "0.1.0"
