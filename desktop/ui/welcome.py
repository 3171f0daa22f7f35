"""What the preview area says before there is anything to show: how to get a model on a fresh
install, how to start with the built-in demo model, or where to click next."""

from __future__ import annotations

WELCOME = (
    "<h2>Welcome to Diffusion Studio</h2>"
    "<p>To make your first image, give the app a model:</p>"
    "<ul><li><b>A model from the catalogue</b>: <i>Models → Manage</i> downloads it (with a network).</li>"
    "<li><b>A diffusers model folder</b> on this computer: <i>Settings → Models → Add folder</i>, "
    "or type its path in <i>Model</i>.</li>"
    "<li><b>An OpenAI API key</b>: <i>Settings → OpenAI</i>, then choose the OpenAI backend.</li></ul>"
    "<p>Then write a prompt, or pick one under <i>Templates</i>, and press <b>Generate</b> (Ctrl+Enter).</p>"
)

DEMO_WELCOME = (
    "<h2>Welcome to Diffusion Studio</h2>"
    "<p>The built-in <b>demo model</b> is selected: a small model trained on simple pictures, so you can "
    "try everything offline, on any computer. Try <i>a red circle on a blue background</i> or <i>a small "
    "yellow triangle on the left on a black background</i>, then press <b>Generate</b> (Ctrl+Enter).</p>"
    "<p>For real pictures, download a model in <i>Models → Manage</i>, or add a model folder or an OpenAI "
    "key in <i>Settings</i>.</p>"
)

FIRST_PROMPT = "<p>Write a prompt and press <b>Generate</b> (Ctrl+Enter). The preview updates at every step.</p>"
NEXT_STEP = "<p>Select an image in the gallery, or write a prompt and press <b>Generate</b>.</p>"


def idle_message(gallery_empty: bool, demo_selected: bool, has_model: bool) -> str:
    if not gallery_empty:
        return NEXT_STEP
    if demo_selected:
        return DEMO_WELCOME
    return FIRST_PROMPT if has_model else WELCOME
