#!/usr/bin/env bash
# The OS packages some tests need, installed by the project itself (never by hand):
#   faketime  libfaketime, for the clock_skew fault and its test
#   chromium  headless browser that renders the HTML report in its test
#   openssl   makes a throwaway certificate for the load driver's TLS test
#   prometheus  the server the prometheus probe's tests query (they run their own process on
#               a free loopback port; the package's systemd service is not used)
#   nginx, haproxy, pgbouncer  the servers of `cwb example` and tests/examples (each run
#               on free loopback ports in a temporary directory; their services are not used)
#   etcd-server, etcd-client  etcd and etcdctl for `cwb example etcd-cluster` (members on free
#               loopback ports in a temporary directory; the package's service is not used)
# Idempotent and quick when everything is present. Where apt-get is not available (or we are
# not root and have no sudo), it says so and exits 0: the tests that need a package then skip
# with a reason that names this script.
set -euo pipefail

missing=()
have_faketime=false
for lib in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
           /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 \
           /usr/lib/faketime/libfaketime.so.1; do
  [ -e "$lib" ] && have_faketime=true
done
$have_faketime || missing+=(faketime)
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v prometheus >/dev/null || missing+=(prometheus)
# Debian installs these in /usr/sbin, which a non-root PATH often lacks.
for server in nginx haproxy pgbouncer; do
  command -v "$server" >/dev/null || [ -x "/usr/sbin/$server" ] || missing+=("$server")
done
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-system-deps: not root and no sudo; missing: ${missing[*]} (tests needing them skip)" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: no apt-get; install ${missing[*]} with your package manager" >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
