#!/usr/bin/env bash
# Installs the Debian tools tsip's tests and tools use, if they are missing.
# Runs before `npm test` (npm's pretest hook) and from .ci/run, so a fresh
# machine needs nothing beyond `npm ci && npm test`.
#   tcpdump, tshark      read and check captures
#   iproute2             namespaces, TUN addresses (ip)
#   iputils-ping         ping from the kernel side of a namespace
#   curl, socat, nc      kernel-side peers for the interop tests
#   openssl              self-signed certificates for the node:tls over tsip tests
set -uo pipefail

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tsip: missing ${need[*]}; install them (apt-get install ${need[*]}) for the interop tests" >&2
  exit 0
fi
echo "tsip: installing ${need[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "tsip: apt-get install ${need[*]} failed" >&2
  exit 1
}
