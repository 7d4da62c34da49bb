#!/bin/bash
# Throughput over a real TUN device, measured from the kernel side with
# curl (tsip -> kernel: 100 MB from tsip's HTTP server) and socat
# (kernel -> tsip: 100 MB to tsip's discard service), 3 runs each.
#   bash scripts/measure-tun.sh            # plain MTU 1500
#   bash scripts/measure-tun.sh --offload  # vnet header, checksum + TSO offload
# Everything happens in the namespace tsipm, which `tsip up` creates and
# deletes; tsip stops by itself after 60 s at the latest. The upload figure
# is the time until socat exits (its last few MB may still be in the
# kernel's send buffer then: a few % optimistic).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=tsipm
BYTES=100000000
tmp=$(mktemp -d)
log="$tmp/up.log"
head -c "$BYTES" /dev/urandom > "$tmp/up.bin"
npx tsx src/cli/main.ts up --duration 60 --netns "$NS" "$@" > "$log" 2>&1 &
up=$!
cleanup() { kill -INT "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 150); do grep -q "serving for" "$log" && break; sleep 0.2; done
grep -q "serving for" "$log" || { cat "$log"; exit 1; }
for _ in 1 2 3; do
  ip netns exec "$NS" curl -s -o /dev/null -w "tsip->kernel (curl download): %{size_download} B at %{speed_download} B/s\n" "http://10.77.0.2/bytes/$BYTES"
done
for _ in 1 2 3; do
  s=$(date +%s.%N)
  ip netns exec "$NS" socat -b 262144 -u "FILE:$tmp/up.bin" TCP:10.77.0.2:9
  e=$(date +%s.%N)
  python3 -c "print('kernel->tsip (socat upload): $BYTES B at', round($BYTES / ($e - $s)), 'B/s')"
done
ip netns exec "$NS" curl -s http://10.77.0.2/status.json | python3 -c '
import json, sys
d = json.load(sys.stdin)
t, n = d.get("tcp", {}), d.get("tun", {})
print("after all runs: tcp retransSegs", t.get("retransSegs"), "| TUN rxDrops", n.get("rxDrops"), "txDrops", n.get("txDrops"))'
