// A packet capture of real transfers between the kernel and tsip, taken by
// tcpdump on the TUN device inside the test's own namespace (offload off, so
// every checksum on the wire is one tsip or the kernel computed), then
// checked by tshark's dissectors: no bad IP/TCP checksums, nothing
// malformed, no zero-window stalls, and all the payload bytes present.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { netnsExists } from '../../src/netif/tun-ip.ts';
import { generatedSha256, skipReason, skipTun, startCapture, startTunEnv, waitFor, type TunEnv } from '../support/tun.ts';

// Random payload to discard :9 must be read as data: TCP's heuristic
// dissectors (IBM MQ, ...) otherwise claim some segments and call them malformed.
const CHECKS = ['-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-d', 'tcp.port==9,data'];

describe.skipIf(skipTun)('capture of kernel <-> tsip transfers (tcpdump on the TUN device, tshark analysis, offload off)', () => {
  let env: TunEnv | null = null;
  let capture: ReturnType<typeof startCapture> | null = null;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsip-capture-'));
  });
  afterAll(() => {
    if (dir && !process.env.KEEP_CAPTURE) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`capture kept in ${dir}`);
  });
  afterEach(async () => {
    await capture?.stop();
    capture = null;
    const ns = env?.ns;
    env?.close();
    env = null;
    if (ns) expect(netnsExists(ns)).toBe(false);
  });

  test('a 4 MB download and a 1 MB upload: checksums good, nothing malformed, no zero window, every byte on the wire', async () => {
    env = startTunEnv({ offload: false });
    const e = env;
    const file = join(dir, 'transfer.pcapng');
    capture = startCapture(e.ns, e.dev.name, file);
    await capture.ready;

    // tsip -> kernel: an HTTP download.
    const n = 4_000_000;
    const dlFile = join(dir, 'dl.bin');
    const dl = await e.sh(`curl -s -S -m 20 -w '%{size_header} %{size_download}\\n' -o ${dlFile} http://${e.tsip}/bytes/${n} && sha256sum ${dlFile}`, { timeoutMs: 25_000 });
    const [sizes, sum] = dl.stdout.toString().split('\n');
    const [headerBytes, bodyBytes] = sizes!.split(' ').map(Number) as [number, number];
    expect(bodyBytes, dl.stderr).toBe(n);
    expect(sum!.slice(0, 64)).toBe(generatedSha256(n));

    // kernel -> tsip: 1 MB to discard :9.
    const up = randomBytes(1_000_000);
    const upFile = join(dir, 'up.bin');
    writeFileSync(upFile, up);
    const ul = await e.sh(`socat -t 5 -u FILE:${upFile} TCP:${e.tsip}:9`, { timeoutMs: 20_000 });
    expect(ul.code, ul.stderr).toBe(0);
    const discard = e.services.list.find((s) => s.name === 'discard')!.counters;
    // socat is done once the kernel has the data; the kernel delivers the rest after it exits.
    expect(await waitFor(() => discard.bytesIn === up.length && discard.active === 0, 5000), JSON.stringify(discard)).toBe(true);

    // Let the last ACKs and FINs reach the capture, then stop tcpdump.
    await new Promise((r) => setTimeout(r, 300));
    const stderr = await capture.stop();
    capture = null;
    expect(stderr, 'tcpdump dropped packets').toMatch(/\b0 packets dropped by kernel/);

    const tshark = (args: string[]) => e.exec(['tshark', '-n', '-r', file, ...CHECKS, ...args], { timeoutMs: 30_000 });
    // Reserved bits must be zero (RFC 791, RFC 9293): tsip once left stale bytes of recycled buffers there.
    // One exception, for the kernel's packets only: a TCP checksum field of
    // 0xffff where 0x0000 was computed is the same one's-complement value
    // (RFC 1624; Linux's software checksum can produce it, about 1 packet in
    // 65536), but Wireshark marks it Bad. tsip's checksum code never emits it.
    const kernelFfff = `(ip.src == ${e.kernel} && tcp.checksum.ffff)`;
    const bad = await tshark(['-Y', `(ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || _ws.malformed || _ws.expert.severity == "error" || ip.flags.rb == 1 || tcp.flags.res != 0) && !${kernelFfff}`]);
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stdout.toString().trim(), 'bad checksums / malformed packets').toBe('');
    const zw = await tshark(['-Y', 'tcp.analysis.zero_window || tcp.analysis.zero_window_probe']);
    expect(zw.stdout.toString().trim(), 'zero-window stalls').toBe('');
    // Checksums were really checked (status Good, not "unverified").
    const good = await tshark(['-Y', `tcp.checksum.status == "Good" && ip.src == ${e.tsip}`, '-T', 'fields', '-e', 'frame.number']);
    expect(good.stdout.toString().trim().split('\n').length).toBeGreaterThan(100);

    // Payload per direction: the sequence ranges seen, merged, so every byte
    // counts once however often it was sent (retransmissions, and the first
    // flight a just-accepted connection drops while its first segment waits
    // for accept()). Relative sequence numbers: data starts at 1.
    const payload = async (filter: string): Promise<{ bytes: number; ranges: number }> => {
      const r = await tshark(['-Y', `${filter} && tcp.len > 0`, '-T', 'fields', '-e', 'tcp.seq', '-e', 'tcp.len']);
      const segs = r.stdout
        .toString()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t').map(Number) as [number, number])
        .sort((x, y) => x[0] - y[0]);
      let bytes = 0;
      let ranges = 0;
      let end = -1;
      for (const [seq, len] of segs) {
        if (seq > end) {
          ranges++;
          bytes += len;
          end = seq + len;
        } else if (seq + len > end) {
          bytes += seq + len - end;
          end = seq + len;
        }
      }
      return { bytes, ranges };
    };
    expect(await payload(`ip.src == ${e.tsip} && tcp.srcport == 80`)).toEqual({ bytes: headerBytes + n, ranges: 1 });
    expect(await payload(`ip.dst == ${e.tsip} && tcp.dstport == 9`)).toEqual({ bytes: up.length, ranges: 1 });
    expect(await payload(`ip.src == ${e.tsip} && tcp.srcport == 9`)).toEqual({ bytes: 0, ranges: 0 });
  }, 60_000);
});

if (skipTun) test.skip(skipReason, () => {});
