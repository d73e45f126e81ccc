#!/usr/bin/env bash
# The GPU host's side of issue 17 (see bench/gpu_travel.md): install the carried pack, run
# bench/gpu_check.py into $1, keep the log beside the JSON. One call of the device tool:
#   bash bench/gpu_check.sh "$OUT"          (carry: [".gpu_pack"])
set -u -o pipefail
results=${1:?usage: bench/gpu_check.sh RESULTS_DIR [gpu_check.py options]}
shift
mkdir -p "$results"
site=/tmp/gpu_site
# shellcheck source=bench/gpu_host.sh
. bench/gpu_host.sh
{
  host_line
  # shellcheck disable=SC2046
  install_wheels "$site" $(ls .gpu_pack/wheels/*.whl 2>/dev/null)  # carry .gpu_pack
  for graph in .gpu_pack/graphs/*.onnx.xz; do  # registry graphs, packed by gpu_pack.py: <name>-<version>
    [ -f "$graph" ] || continue
    base=$(basename "$graph" .onnx.xz)
    dst="models/${base%-*}/${base##*-}/model.onnx"
    [ -f "$dst" ] || { xz -dc "$graph" > "$dst.part" && mv "$dst.part" "$dst"; } || echo "== unpacking $graph failed"
  done
  if [ -f .gpu_pack/server.tar.xz ]; then
    tar -C "$site" -xJf .gpu_pack/server.tar.xz || echo "== unpacking the Triton server failed"
  fi
} 2>&1 | tee "$results/setup.log"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 bench/gpu_check.py "$results" "$@" 2>&1 | tee "$results/gpu_check.log"
