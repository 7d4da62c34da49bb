#!/usr/bin/env bash
# Installs the Debian tools tsip needs, if they are missing.
#   bash scripts/ensure-system-deps.sh         everything the tests use: npm's
#                                              pretest hook and .ci/run, so a
#                                              fresh machine needs nothing
#                                              beyond `npm ci && npm test`
#   bash scripts/ensure-system-deps.sh start   only what `tsip up` needs
#                                              (npm's prestart hook): iproute2
#   bash scripts/ensure-system-deps.sh bench   what the anchors benchmark
#                                              (bench/anchors.bench.ts) builds
#                                              with: cc, liblwip-dev, iproute2,
#                                              iperf3
#
#   tcpdump, tshark      read and check captures
#   iproute2             namespaces, TUN addresses (ip)
#   iputils-ping         ping from the kernel side of a namespace
#   curl, socat, nc      kernel-side peers for the interop tests
#   openssl              self-signed certificates for the node:tls over tsip tests
#   hping3               the SYN flood of test/load/syn-flood.test.ts
#   python3-scapy        crafted IPv6 packets of test/interop/ipv6-hostile.test.ts
#                        (the system /usr/bin/python3's scapy, not a pyenv one)
#   chromium             the headless browser of test/interop/webrepl-browser.test.ts
#   gcc, libc6-dev       cc for the benchmark's C clients and servers (bench/clients)
#   liblwip-dev          C lwIP 2.1 (headers + liblwip.so) for the lwIP anchor
#                        server bench/lwip/lwip-tun.c (test/bench/anchors.test.ts)
#   iperf3               the unmodified client of test/interop/iperf3.test.ts and
#                        the iperf3 rows of the anchors benchmark
#
# Never fails the command it runs before for want of a tool: without root or
# apt-get it says what is missing (tsip up then runs the simulator, and
# interop tests skip); it exits 1 only when apt-get itself fails for the
# tests (for start, tsip up still runs: in the simulator).
set -uo pipefail

profile="${1:-test}"
need=()
case "$profile" in
  test)
    command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
    command -v tshark >/dev/null 2>&1 || need+=(tshark)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v socat >/dev/null 2>&1 || need+=(socat)
    command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)
    command -v hping3 >/dev/null 2>&1 || need+=(hping3)
    /usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || need+=(python3-scapy)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    [ -f /usr/include/lwip/lwip/tcp.h ] || need+=(liblwip-dev)
    command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
    purpose="for the interop tests"
    ;;
  bench)
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    [ -f /usr/include/lwip/lwip/tcp.h ] || need+=(liblwip-dev)
    command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
    purpose="for the anchors benchmark (C clients, the C lwIP server, iperf3)"
    ;;
  start)
    # tsip up's self-check uses tsip's own ICMP and a Node child for HTTP;
    # only the namespace and the TUN addresses need a tool: ip.
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    purpose="for tsip up (without it, it runs the simulator instead)"
    ;;
  *)
    echo "usage: bash scripts/ensure-system-deps.sh [test|start|bench]" >&2
    exit 2
    ;;
esac

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tsip: missing ${need[*]}; install them (apt-get install ${need[*]}) $purpose" >&2
  exit 0
fi
echo "tsip: installing ${need[*]} (Debian packages) $purpose"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "tsip: apt-get install ${need[*]} failed" >&2
  [ "$profile" = start ] && exit 0
  exit 1
}
