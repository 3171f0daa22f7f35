"""The model manager, Qt-free: the catalogue, what is installed, downloads, and will-it-fit.

catalogue.py reads resources/model_catalogue.json; installed.py lists the Hugging Face cache, the folders
from Settings and other tools' folders (tool_folders.py); download.py fetches what a pipeline needs
(hub_files.py) with progress (progress.py), cancel and resume, failing in one sentence (download_errors.py);
memory.py says when a model needs more memory than the device has; picker.py filters the form's model
list by task. The CLI (desktop/models_cli.py) and the window's dialog (desktop/ui/models_dialog.py) sit on
top. Nothing here imports torch or Qt.
"""
