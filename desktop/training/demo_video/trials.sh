#!/usr/bin/env bash
# Training recipes side by side on one lent GPU, to choose which one to spend this CPU's two hours on.
# A GPU run with --max-steps makes the same draws as a CPU run of that many steps (see train), so a
# recipe's figures after STEPS steps there predict its figures after as many steps here.
#
#   OUT=dir STEPS=4200 MINUTES=5.5 bash desktop/training/demo_video/trials.sh NAME "OPTIONS" [NAME "OPTIONS" ...]
#
# Each recipe trains from the image demo on the shipped data (1,500 narrow clips, lr 1e-3) plus its
# OPTIONS, stops at STEPS steps or MINUTES of training, and is evaluated on the GPU (the 96 clips).
# Writes OUT/NAME.log for each, and OUT/best.tar.gz, OUT/second.tar.gz: the two best by motion.
set -u
out=${OUT:?OUT: the folder for the logs and the best models}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
python=${PYTHON:-python3}  # on the lent machines, the python3 that holds PyTorch
while [ $# -ge 2 ]; do
  name=$1 options=$2
  shift 2
  # shellcheck disable=SC2086  # OPTIONS is a list of arguments
  (PYTHONUNBUFFERED=1 "$python" -m desktop.training.demo_video.train --out "$runs/$name" --clips "${CLIPS:-1500}" \
    --paths narrow --lr 1e-3 --threads 2 --device "${DEVICE:-cuda}" --max-steps "${STEPS:-4200}" \
    --minutes "${MINUTES:-5.5}" --checkpoint-minutes "${CHECK:-2}" $options >"$out/$name.log" 2>&1
  echo "exit $?" >>"$out/$name.log") &
done
wait
"$python" - "$runs" "$out" <<'PY'
import json, sys, tarfile
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
scored = []
for folder in sorted(p for p in runs.iterdir() if (p / "training.json").is_file()):
    figures = json.loads((folder / "training.json").read_text())
    motion = figures.get("evaluation", {}).get("motion", -1)
    print(folder.name, figures.get("steps"), figures.get("final_loss"), figures.get("evaluation"))
    scored.append((motion, folder))
for rank, (_, folder) in zip(("best", "second"), sorted(scored, key=lambda s: s[0], reverse=True)):
    with tarfile.open(out / f"{rank}.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
PY
