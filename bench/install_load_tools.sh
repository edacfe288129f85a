#!/usr/bin/env bash
# Install what bench/load_bench.py compares against: nginx and wrk from the OS packages
# (Debian/Ubuntu), locust from PyPI into the project's virtualenv. Safe to re-run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" \
      || DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nginx wrk
  else
    echo "install_load_tools: no apt-get here; install ${need[*]} yourself (the bench skips what is missing)" >&2
  fi
fi
if [ -x "$venv/bin/python" ]; then
  "$venv/bin/python" -c "import locust" 2>/dev/null || "$venv/bin/pip" install -q "locust>=2.20"
fi
echo "install_load_tools: nginx=$(command -v nginx || echo /usr/sbin/nginx) wrk=$(command -v wrk || echo missing)"
