#!/usr/bin/env bash
# The GPU host's side of the NEU-DET run (bench/gpu_neu.py): install the carried wheels, train
# into $1, keep the log beside the JSON. One call of the device tool:
#   bash bench/gpu_neu.sh "$OUT"          (carry: [".gpu_pack/wheels", ".gpu_neu"], timeout_s=540)
set -u -o pipefail
results=${1:?usage: bench/gpu_neu.sh RESULTS_DIR [gpu_neu.py train options]}
shift
mkdir -p "$results"
site=/tmp/gpu_neu_site
# shellcheck source=bench/gpu_host.sh
. bench/gpu_host.sh
{
  host_line
  # shellcheck disable=SC2046
  install_wheels "$site" $(ls .gpu_pack/wheels/*.whl .gpu_neu/wheels/*.whl 2>/dev/null)  # carry .gpu_pack/wheels, .gpu_neu
} 2>&1 | tee "$results/setup.log"
export PYTHONPATH="$site:$PWD/.gpu_neu/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 bench/gpu_neu.py train "$results" "$@" 2>&1 | tail -c 2000000 > "$results/gpu_neu.log"
status=${PIPESTATUS[0]}
tail -n 40 "$results/gpu_neu.log"
exit "$status"
