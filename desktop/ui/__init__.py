"""Qt widgets, view models, and bridge.py: the one module where worker threads meet the UI thread."""
