"""Development only: the built-in models' training data, training and evaluation.

The app never imports this package (an import-linter contract keeps it so) and the wheel leaves it
out; tests and the training commands use it.
"""
