#!/usr/bin/env bash
# Install what bench/proxy_bench.py compares against: nginx (the upstream) and wrk (the load
# generator), from the OS packages. Safe to re-run; says clearly what it could not install.
set -uo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_tools: CANNOT INSTALL ${need[*]}: no apt-get on this machine; install them" \
      "with your package manager (the benchmark skips the parts that need them)" >&2
    exit 1
  fi
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo_cmd="sudo"
    else
      echo "install_tools: CANNOT INSTALL ${need[*]}: not root and no sudo" >&2
      exit 1
    fi
  fi
  echo "install_tools: installing ${need[*]} with apt-get" >&2
  if ! { $sudo_cmd apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"; }; then
    echo "install_tools: CANNOT INSTALL ${need[*]}: apt-get failed (offline?)" >&2
    exit 1
  fi
fi
echo "install_tools: nginx=$(command -v nginx || echo /usr/sbin/nginx) wrk=$(command -v wrk)"
