"""Waterline training package (PyTorch). Run ``python -m training --help`` from the
repository root; it imports the plugin's engine (``plugin.engine``) so training and
inference preprocess identically."""
