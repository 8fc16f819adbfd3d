"""The stage services; each sub-package is one service with the same shape."""
