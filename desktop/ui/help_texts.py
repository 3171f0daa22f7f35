"""What the Help menu says: getting started with the built-in models, and the keyboard shortcuts."""

from __future__ import annotations

from desktop.engine.presets import DEMO_VIDEO_VOCABULARY, DEMO_VOCABULARY, demo_video_installed

# What Help → Keyboard shortcuts lists; the actions themselves are made in the main window's menus
# and the widgets.
SHORTCUTS = (
    ("Ctrl+Enter", "Generate (queues another job while one runs)"),
    ("Esc", "Cancel the running job"),
    ("Ctrl+Shift+Esc", "Cancel all jobs"),
    ("Ctrl+Z", "Undo the last mask stroke (Edit tab) or the last delete"),
    ("Ctrl+F", "Search the gallery"),
    ("Ctrl+E", "Edit the selected picture"),
    ("Ctrl+R", "Use the selected item's settings again"),
    ("Ctrl+O", "Open the selected item in the system's viewer"),
    ("Ctrl+C", "Copy the selected picture"),
    ("Delete", "Delete the selected items (Ctrl+Z brings them back)"),
    ("Ctrl+I", "PNG Info: the settings a picture was made with"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+Q", "Quit"),
)


def _words(vocabulary: dict[str, tuple[str, ...]]) -> str:
    return "".join(f"<li><b>{kind}</b>: {', '.join(values)}</li>" for kind, values in vocabulary.items())


def getting_started() -> str:
    # The video part only where the demo video model is installed (a development checkout may lack it).
    video = (
        "<h3>Your first video</h3>"
        "<p>Choose <b>Video</b> and the built-in <b>demo video model</b>: 16 frames at 64x64 in a few seconds, "
        "one shape moving on a plain background:</p>"
        f"<ul>{_words({k: v for k, v in DEMO_VIDEO_VOCABULARY.items() if k == 'motions'})}</ul>"
        "<p>with the demo's shapes and colours. Try <i>a yellow square moving left on a black background</i>.</p>"
        if demo_video_installed()
        else ""
    )
    return (
        "<h3>Your first picture</h3>"
        "<p>The built-in <b>demo model</b> works offline on any computer. It knows one shape in one colour "
        "on a plain background, nothing else:</p>"
        f"<ul>{_words(DEMO_VOCABULARY)}</ul>"
        "<p>Try <i>a small yellow triangle on the left on a black background</i> and press "
        "<b>Generate</b> (Ctrl+Enter). Words it does not know are named under the form.</p>"
        f"{video}"
        "<h3>Real pictures</h3>"
        "<p>Download a model (<i>Models → Manage</i>), add a diffusers model folder (<i>Settings → Models</i>) "
        "or an OpenAI key (<i>Settings → OpenAI</i>). "
        "<i>Templates</i> has prompts for marketing, product prototypes, education and launch videos.</p>"
        "<h3>Editing</h3><p>Drop a picture on the window, or choose <i>Edit</i> on a gallery item: inpaint "
        "with the brush, outpaint to a wider canvas, or restyle it.</p>"
    )


def shortcuts() -> str:
    rows = "".join(f"<tr><td><b>{keys}</b></td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
    return f"<table cellspacing=6>{rows}</table>"
