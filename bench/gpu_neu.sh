#!/usr/bin/env bash
# The GPU host's side of the NEU-DET run (bench/gpu_neu.py): install the carried wheels, train
# into $1, keep the log beside the JSON. One call of the device tool:
#   bash bench/gpu_neu.sh "$OUT"          (carry: [".gpu_pack/wheels", ".gpu_neu"], timeout_s=540)
set -u -o pipefail
results=${1:?usage: bench/gpu_neu.sh RESULTS_DIR [gpu_neu.py train options]}
shift
mkdir -p "$results"
site=/tmp/gpu_neu_site
mkdir -p "$site"
{
  echo "== host: $(uname -m), $(python3 -V 2>&1), $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1), $(nproc) cores"
  wheels=$(ls .gpu_pack/wheels/*.whl .gpu_neu/wheels/*.whl 2>/dev/null)
  [ -n "$wheels" ] || echo "== no wheels carried (carry .gpu_pack/wheels and .gpu_neu)"
  # shellcheck disable=SC2086
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" $wheels \
    || echo "== pip install of the carried wheels failed"
} 2>&1 | tee "$results/setup.log"
export PYTHONPATH="$site:$PWD/.gpu_neu/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 bench/gpu_neu.py train "$results" "$@" 2>&1 | tail -c 2000000 > "$results/gpu_neu.log"
status=${PIPESTATUS[0]}
tail -n 40 "$results/gpu_neu.log"
exit "$status"
