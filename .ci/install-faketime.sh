#!/usr/bin/env bash
# Install libfaketime (Debian package `faketime`) for the clock_skew fault and its tests.
# Idempotent: does nothing when the library is already present. Needs root (or sudo) and apt.
set -euo pipefail
for lib in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
           /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 \
           /usr/lib/faketime/libfaketime.so.1; do
  if [ -e "$lib" ]; then
    echo "libfaketime present: $lib"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null; then
  echo "no apt-get here: install libfaketime with your package manager (package 'faketime' or 'libfaketime')" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq faketime
