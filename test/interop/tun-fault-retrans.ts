// By hand: retransmissions against the real kernel through tsip's
// user-space fault shaper (sim/device-faults.ts on the TUN, both
// directions; what `tsip up --loss --delay` uses). For each LinkSpec given
// as JSON: a 20 MB download from tsip's HTTP service (curl: tsip sends, the
// kernel's ACKs cross the faults) and a 20 MB upload to discard :9 (python:
// the kernel sends), with tsip's TCP counters and the kernel's nstat.
//
//   npx tsx test/interop/tun-fault-retrans.ts '{"latencyMs":2,"reorder":0.05}' '{"latencyMs":2,"duplicate":0.03}'
//   TCPCFG='{"pacing":false}' npx tsx test/interop/tun-fault-retrans.ts ...   (tsip's TcpConfig)
//
// Every namespace is the run's own (startTunEnv), deleted at the end. The
// kernel's congestion control is the host's (net.ipv4.tcp_congestion_control).
import { DeviceFaults } from '../../src/sim/device-faults.ts';
import { generatedSha256, startTunEnv } from '../support/tun.ts';

const N = 20_000_000;

async function main(): Promise<void> {
  for (const spec of process.argv.slice(2)) {
    const link = JSON.parse(spec) as ConstructorParameters<typeof DeviceFaults>[0]['link'];
    const tcp = process.env.TCPCFG ? JSON.parse(process.env.TCPCFG) : {};
    const e = startTunEnv({ stack: { tcp }, shaper: (clock) => new DeviceFaults({ clock, seed: 1, link }) });
    try {
      const c = e.stack.tcp.counters as unknown as Record<string, number>;
      const dl = await e.sh(`curl -s -m 120 http://${e.tsip}/bytes/${N} | sha256sum`, { timeoutMs: 150_000 });
      const intact = dl.stdout.toString().slice(0, 64) === generatedSha256(N);
      const atDl = { ...c };
      const up = await e.sh(
        `head -c ${N} /dev/urandom > /tmp/tsip-up-$$.bin; python3 -c "import socket;s=socket.create_connection(('${e.tsip}',9));s.sendall(open('/tmp/tsip-up-$$.bin','rb').read());s.shutdown(1);s.recv(1);s.close()"; rm -f /tmp/tsip-up-$$.bin; nstat -az TcpRetransSegs TcpExtTCPDSACKRecv TcpExtTCPSpuriousRTOs | tail -3`,
        { timeoutMs: 150_000 },
      );
      const during = Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== atDl[k]).map(([k, v]) => [k, v - (atDl[k] ?? 0)]));
      console.log(`${spec}`);
      console.log(`  download (tsip sends): ${intact ? 'intact' : 'CORRUPT'} in ${dl.ms.toFixed(0)} ms; tsip retransmitted ${atDl.retransSegs ?? 0} (fast ${atDl.fastRetransmits ?? 0}, probes ${atDl.lossProbes ?? 0}, RTOs ${atDl.rtoTimeouts ?? 0})`);
      console.log(`  upload (the kernel sends): exit ${up.code} in ${up.ms.toFixed(0)} ms; kernel ${up.stdout.toString().replace(/\s+0\.0/g, '').replace(/\s+/g, ' ').trim()}; tsip ${JSON.stringify(during)}`);
    } finally {
      e.close();
    }
  }
}
void main();
