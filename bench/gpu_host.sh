# The GPU host's set-up lines the device scripts share (gpu_check.sh, gpu_neu.sh): source it.

# One line naming the machine: architecture, Python, GPU, driver, memory, cores.
host_line() {
  echo "== host: $(uname -m), $(python3 -V 2>&1), $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1), $(nproc) cores"
}

# install_wheels SITE WHEEL...: the carried wheels into SITE, offline, without their dependencies
# (the host's own packages and the carried ones are all there is); says so when none came or pip fails.
install_wheels() {
  local site=$1
  shift
  mkdir -p "$site"
  if [ $# -eq 0 ]; then
    echo "== no wheels carried: the parts that need them will be skipped"
    return 0
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$@" \
    || echo "== pip install of the carried wheels failed: the parts that need them will be skipped"
}
