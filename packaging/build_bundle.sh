#!/usr/bin/env bash
# Build the one-folder bundle with PyInstaller, then smoke-test it: it answers --version, opens
# its window on a virtual screen (Xvfb) and makes a picture with the built-in demo model. Run from anywhere; needs the README's install and
# `apt-get install -y xvfb xauth`.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q -e ".[bundle]"
python packaging/render_icons.py
started=$(date +%s)
pyinstaller --noconfirm --clean --log-level WARN \
    --distpath build/bundle --workpath build/pyinstaller packaging/diffusion-studio.spec
built=$(( $(date +%s) - started ))
app=build/bundle/diffusion-studio/diffusion-studio
"$app" --version
scratch=$(mktemp -d)
DIFFUSION_STUDIO_HOME="$scratch/home" DIFFUSION_STUDIO_CONFIG="$scratch/config" \
    xvfb-run -a "$app" --smoke-test
DIFFUSION_STUDIO_HOME="$scratch/home" DIFFUSION_STUDIO_CONFIG="$scratch/config" \
    "$app" generate --prompt "a red circle on a blue background" --seed 1
echo "bundle: $(du -sh build/bundle/diffusion-studio | cut -f1), built in ${built}s"
