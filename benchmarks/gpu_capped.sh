#!/bin/bash
# benchmarks/gpu.py with each architecture in its own process under a time cap, all inside one
# deadline: for a GPU lent for a fixed time, so that one slow architecture cannot take the others'
# time and each keeps what it measured (gpu.py rewrites its report after every part).
#
#   OUT=gpu-report BUDGET=540 bash benchmarks/gpu_capped.sh
#   PLAN="sd15:150:--repeats=4 wan-1.3b:240" bash benchmarks/gpu_capped.sh   # architecture:cap[:options, + for spaces]
#
# Reports land in $OUT/<architecture>.json, progress in $OUT/log.
OUT=${OUT:-gpu-report}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
end=$(( $(date +%s) + ${BUDGET:-540} ))
for pair in ${PLAN:-sd15:150:--repeats=3 wan-1.3b:240 modelscope:120 sdxl:150 shap-e:90}; do
  IFS=: read -r name cap extra <<< "$pair"
  extra=${extra//+/ }
  left=$(( end - $(date +%s) ))
  if (( left < 30 )); then echo "$name: no time left" | tee -a "$OUT/log"; continue; fi
  (( cap > left )) && cap=$left
  echo "== $name (cap ${cap}s)" | tee -a "$OUT/log"
  # shellcheck disable=SC2086  # $extra is a list of options
  PYTHONUNBUFFERED=1 timeout -k 5 "$cap" python3 benchmarks/gpu.py --architecture "$name" --repeats "${REPEATS:-2}" \
    $extra --out "$OUT/$name.json" 2>&1 >/dev/null | tee -a "$OUT/log"
  echo "$name rc=${PIPESTATUS[0]}" | tee -a "$OUT/log"
done
