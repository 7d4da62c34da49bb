#!/usr/bin/env bash
# Installs the Debian tools tsip's tests and tools use, if they are missing.
# Runs before `npm test` (npm's pretest hook) and from .ci/run, so a fresh
# machine needs nothing beyond `npm ci && npm test`.
set -uo pipefail

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)

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
