#!/usr/bin/env bash
# Every benchmark, one after another (they must not share the 2 cores with each other).
# Installs what they compare against (nginx, wrk, locust) first; each prints its own ratios.
#   bash bench/run_all.sh            # full runs (about 20 minutes)
#   QUICK=1 bash bench/run_all.sh    # shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
quick=()
[ "${QUICK:-}" = 1 ] && quick=(--quick)
bash bench/install_load_tools.sh
echo "== fault proxy: throughput, added latency, bulk, idle connections, integrity"
$PY bench/proxy_bench.py "${quick[@]}"
echo "== HTTP toxics: cost of HTTP framing"
$PY bench/http_toxics.py
echo "== proxy control API: response times under load"
$PY bench/proxy_api_bench.py
echo "== load driver: vs wrk and Locust, rate accuracy, coordinated omission, memory"
$PY bench/load_bench.py "${quick[@]}"
echo "== distributed load: 1, 2, 4 Dask workers vs the in-process driver"
$PY bench/distributed_load.py "${quick[@]}"
echo "== parallel copies: the demo with --parallel 4 vs sequential (wall time, verdicts)"
$PY bench/parallel_bench.py --pairs "${PARALLEL_PAIRS:-5}"
echo "== safety net: kill -9 the controller at random moments"
$PY bench/crash_test.py --trials "${CRASH_TRIALS:-50}"
