#!/usr/bin/env bash
# Install what bench/load_bench.py compares against: nginx and wrk from the OS packages
# (through bench/install_tools.sh, shared with the proxy benchmark), and locust from PyPI
# into the project's virtualenv. Safe to re-run; the benchmark skips what is missing.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"

bash "$here/bench/install_tools.sh" || echo "install_load_tools: nginx/wrk missing: those comparisons will be skipped" >&2
if [ -x "$venv/bin/python" ]; then
  "$venv/bin/python" -c "import locust" 2>/dev/null || "$venv/bin/pip" install -q "locust>=2.20" \
    || echo "install_load_tools: CANNOT INSTALL locust (offline?): that comparison will be skipped" >&2
else
  echo "install_load_tools: no virtualenv at $venv (make test creates it)" >&2
fi
