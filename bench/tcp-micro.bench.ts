// TCP per-packet costs, each measured on the real code path:
// - header parse and emit with options (timestamps; timestamps + 3 SACK
//   blocks), view-based (what the engine does) and repr-based (parseTcp /
//   emitTcp, what tests and tools use), with and without the checksum;
// - one in-order 1448-byte data segment through the receive path: a Stack
//   with a connection in ESTABLISHED is handed a prebuilt frame through
//   stack.input() (the driver copy into a POOL pbuf included); the stack
//   verifies the IP and TCP checksums, finds the PCB, queues the data, the
//   recv callback frees it and calls tcpRecved so the window stays open,
//   and ACKs go to a null netif. Only the sequence number changes from one
//   frame to the next, with the checksum patched (RFC 1624) to match;
// - one 1448-byte segment built and sent: tcpWrite (copy) + tcpOutput to a
//   null netif, then a peer ACK through stack.input frees it (ACK every
//   segment, and a cumulative ACK every 32 segments);
// - the engine's 4-tuple lookup (tcp.active.lookup) among 10k and 100k
//   connections, hits and misses.
import { RawTcp, WriteFlag } from '../src/callbacks/raw.ts';
import { Err } from '../src/err.ts';
import type { Netif } from '../src/netif/netif.ts';
import type { Pbuf } from '../src/pbuf/pbuf.ts';
import { PbufType } from '../src/pbuf/pbuf.ts';
import { PbufLayer } from '../src/pbuf/pool.ts';
import type { TcpPcb } from '../src/pcb/pcb.ts';
import { TcpState } from '../src/pcb/state.ts';
import type { TcpConfig } from '../src/pcb/tcp.ts';
import { Stack } from '../src/stack/stack.ts';
import { Rng } from '../src/time/rng.ts';
import { parseIpv4Address } from '../src/wire/address.ts';
import { checksumUpdate32 } from '../src/wire/checksum.ts';
import { isWireError } from '../src/wire/error.ts';
import { emitIpv4, parseIpv4 } from '../src/wire/ipv4.ts';
import { emitTcp, newTcpOptions, parseTcp, parseTcpOptions, TcpFlag, tcpOptionsLength, TcpView, type TcpRepr } from '../src/wire/tcp.ts';
import { type BenchReport, type BenchSpec, type MicroTask, runMicro } from './lib.ts';

let sink = 0;

const ip = (s: string): number => parseIpv4Address(s)!;
// TSIP_BENCH_NET=192.168.0 measures with addresses above 2^30 (not V8 small integers).
const NET = process.env.TSIP_BENCH_NET ?? '10.0.0';
const LOCAL = ip(`${NET}.1`);
const PEER = ip(`${NET}.2`);
const LOCAL_PORT = 80;
const PEER_PORT = 40000;
const MSS_PAYLOAD = 1448; // 1500 - 20 (IP) - 20 (TCP) - 12 (timestamps)

interface SegOpts {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  data?: Uint8Array;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
}

/** A TCP segment (checksummed for src -> dst) at buf[off]; returns its length. */
function buildTcp(s: SegOpts, src: number, dst: number, srcPort: number, dstPort: number): Uint8Array {
  const o = newTcpOptions();
  if (s.mss !== undefined) o.mss = s.mss;
  if (s.wscale !== undefined) o.wscale = s.wscale;
  if (s.sackPermitted) o.sackPermitted = true;
  if (s.ts) {
    o.hasTimestamp = true;
    o.tsVal = s.ts[0] >>> 0;
    o.tsEcr = s.ts[1] >>> 0;
  }
  if (s.sack) {
    o.sackCount = s.sack.length;
    s.sack.forEach(([l, r], i) => {
      o.sackBlocks[2 * i] = l >>> 0;
      o.sackBlocks[2 * i + 1] = r >>> 0;
    });
  }
  const data = s.data ?? new Uint8Array(0);
  const hl = 20 + tcpOptionsLength(o);
  const seg = new Uint8Array(hl + data.length);
  seg.set(data, hl);
  const repr: TcpRepr = { srcPort, dstPort, seq: s.seq >>> 0, ack: s.ack >>> 0, flags: s.flags, window: s.window, urgent: 0, options: o, payloadLen: data.length };
  emitTcp(repr, seg, 0, src, dst);
  return seg;
}

/** An IPv4 packet from the peer (10.0.0.2:40000) to the stack (10.0.0.1:80). */
function peerFrame(s: SegOpts): Uint8Array {
  const seg = buildTcp(s, PEER, LOCAL, PEER_PORT, LOCAL_PORT);
  const out = new Uint8Array(20 + seg.length);
  emitIpv4({ src: PEER, dst: LOCAL, protocol: 6, payloadLen: seg.length, ttl: 64, ident: 0x1234, dontFragment: true, moreFragments: false, fragOffset: 0, dscp: 0, ecn: 0 }, out, 0);
  out.set(seg, 20);
  return out;
}

/** Big-endian u32 at frame[off], and the TCP checksum (at frame[36]) patched to match (RFC 1624). */
function patchU32(frame: Uint8Array, off: number, value: number): void {
  const old = ((frame[off]! << 24) | (frame[off + 1]! << 16) | (frame[off + 2]! << 8) | frame[off + 3]!) >>> 0;
  const csum = (frame[36]! << 8) | frame[37]!;
  const c = checksumUpdate32(csum, old, value >>> 0);
  frame[off] = value >>> 24;
  frame[off + 1] = value >>> 16;
  frame[off + 2] = value >>> 8;
  frame[off + 3] = value;
  frame[36] = c >>> 8;
  frame[37] = c;
}

/** What a driver does with a received frame: copy it into a POOL pbuf, hand it to the stack. */
function deliver(stack: Stack, netif: Netif, frame: Uint8Array): void {
  const p = stack.pool.alloc(PbufLayer.RAW, frame.length, PbufType.POOL);
  if (p === null) throw new Error('pool exhausted');
  p.take(frame);
  stack.input(p, netif);
}

interface Established {
  stack: Stack;
  netif: Netif;
  raw: RawTcp;
  pcb: TcpPcb;
  /** The peer's next sequence number. */
  peerNxt: number;
  /** The stack's ISS + 1 (its next sequence number right after the handshake). */
  localNxt: number;
  /** The stack's timestamp value (the virtual clock never moves here). */
  localTsVal: number;
  /** Frames the stack sent, and the last one when capturing. */
  out: { frames: number; capture: boolean; last: Uint8Array | null };
}

/**
 * A Stack (10.0.0.1) with one connection from 10.0.0.2:40000 to port 80 in
 * ESTABLISHED (passive open: SYN with MSS 1460, window scale 7, SACK
 * permitted, timestamps; SYN-ACK; ACK), its netif a sink that only counts.
 */
function established(tcp: TcpConfig = {}): Established {
  const stack = new Stack({ name: 'bench', tcp });
  const out = { frames: 0, capture: true, last: null as Uint8Array | null };
  const netif = stack.addNetif({
    name: 'null0',
    addr: LOCAL,
    prefixLength: 24,
    mtu: 1500,
    output: (p: Pbuf) => {
      out.frames++;
      if (out.capture) out.last = p.toBytes();
      return Err.OK;
    },
  });
  const raw = new RawTcp(stack);
  const l = raw.tcpNew()!;
  raw.tcpBind(l, 0, LOCAL_PORT);
  raw.tcpListen(l);
  let pcb: TcpPcb | null = null;
  raw.tcpAccept(l, (_a, npcb) => {
    pcb = npcb;
    return Err.OK;
  });
  const irs = 1_000_000;
  deliver(stack, netif, peerFrame({ seq: irs, ack: 0, flags: TcpFlag.SYN, window: 0xffff, mss: 1460, wscale: 7, sackPermitted: true, ts: [5000, 0] }));
  const synack = out.last;
  if (synack === null) throw new Error('no SYN-ACK');
  const ipr = parseIpv4(synack);
  if (isWireError(ipr)) throw new Error('bad SYN-ACK');
  const t = parseTcp(synack.subarray(20, 20 + ipr.payloadLen), ipr.src, ipr.dst);
  if (isWireError(t) || (t.flags & TcpFlag.SYN) === 0) throw new Error('bad SYN-ACK');
  deliver(stack, netif, peerFrame({ seq: irs + 1, ack: t.seq + 1, flags: TcpFlag.ACK, window: 0xffff, ts: [5001, t.options.tsVal] }));
  const est = pcb as TcpPcb | null;
  if (est === null || est.state !== TcpState.ESTABLISHED) throw new Error('connection not established');
  raw.tcpClose(l);
  out.capture = false;
  return { stack, netif, raw, pcb: est, peerNxt: irs + 1, localNxt: (t.seq + 1) >>> 0, localTsVal: t.options.tsVal, out };
}

/** A Stack whose active table holds `n` connections to 10.0.0.1:80 from random peers; returns their tuples. */
function lookupTable(n: number, rng: Rng): { stack: Stack; remoteIps: Uint32Array; remotePorts: Uint16Array } {
  const stack = new Stack({ name: `lookup${n}` });
  const remoteIps = new Uint32Array(n);
  const remotePorts = new Uint16Array(n);
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    let rip: number;
    let rport: number;
    do {
      rip = (ip('10.64.0.0') | rng.int(1 << 22)) >>> 0;
      rport = 1024 + rng.int(64512);
    } while (seen.has(`${rip}:${rport}`));
    seen.add(`${rip}:${rport}`);
    const pcb = stack.tcp.newPcb()!;
    pcb.localIp = LOCAL;
    pcb.localPort = LOCAL_PORT;
    pcb.remoteIp = rip;
    pcb.remotePort = rport;
    stack.tcp.setState(pcb, TcpState.ESTABLISHED);
    stack.tcp.active.add(pcb);
    remoteIps[i] = rip;
    remotePorts[i] = rport;
  }
  return { stack, remoteIps, remotePorts };
}

const spec: BenchSpec = {
  name: 'tcp-micro',
  description: 'TCP header parse/emit (TS, SACK), one data segment through the receive path, one segment written+output+ACKed, 4-tuple lookup among 10k/100k PCBs',
  async run(): Promise<BenchReport> {
    const rng = new Rng(9293);
    const payload = rng.fill(new Uint8Array(MSS_PAYLOAD));
    const notes: string[] = [];

    // --- header parse / emit ------------------------------------------------
    const segTs = buildTcp({ seq: 123456, ack: 654321, flags: TcpFlag.ACK | TcpFlag.PSH, window: 4000, ts: [111, 222], data: payload }, PEER, LOCAL, PEER_PORT, LOCAL_PORT);
    const sackBlocks: [number, number][] = [
      [200000, 201448],
      [204344, 207240],
      [210136, 211584],
    ];
    const segSack = buildTcp({ seq: 123456, ack: 654321, flags: TcpFlag.ACK, window: 4000, ts: [111, 222], sack: sackBlocks }, PEER, LOCAL, PEER_PORT, LOCAL_PORT);
    if (segSack.length !== 20 + 12 + 28) throw new Error(`TS+SACK header is ${segSack.length} bytes`);
    const view = new TcpView();
    const opts = newTcpOptions();
    const parseView = (seg: Uint8Array): number => {
      view.wrap(seg, 0, seg.length);
      if (view.check() !== 0) throw new Error('bad header');
      if (parseTcpOptions(seg, 20, view.headerLen - 20, opts) !== 0) throw new Error('bad options');
      return (view.srcPort ^ view.dstPort ^ view.seq ^ view.ack ^ view.flags ^ view.window ^ opts.tsVal ^ opts.sackCount) | 0;
    };
    const reprOpts = newTcpOptions();
    const emitBuf = new Uint8Array(20 + 40 + MSS_PAYLOAD);
    emitBuf.set(payload, 32); // payload after a 32-byte (TS) header
    const reprSack: TcpRepr = { srcPort: LOCAL_PORT, dstPort: PEER_PORT, seq: 1, ack: 2, flags: TcpFlag.ACK, window: 1000, urgent: 0, options: newTcpOptions(), payloadLen: 0 };
    reprSack.options.hasTimestamp = true;
    reprSack.options.tsVal = 77;
    reprSack.options.tsEcr = 88;
    reprSack.options.sackCount = 3;
    sackBlocks.forEach(([l, r], i) => {
      reprSack.options.sackBlocks[2 * i] = l;
      reprSack.options.sackBlocks[2 * i + 1] = r;
    });
    const reprData: TcpRepr = { srcPort: LOCAL_PORT, dstPort: PEER_PORT, seq: 1, ack: 2, flags: TcpFlag.ACK | TcpFlag.PSH, window: 1000, urgent: 0, options: newTcpOptions(), payloadLen: MSS_PAYLOAD };
    reprData.options.hasTimestamp = true;
    reprData.options.tsVal = 77;
    reprData.options.tsEcr = 88;
    const B = 64; // calls per tinybench sample for the cheap header tasks
    const batch = (name: string, fn: () => number, bytesPerOp?: number): MicroTask => ({
      name,
      opsPerCall: B,
      ...(bytesPerOp !== undefined ? { bytesPerOp } : {}),
      fn: () => {
        let x = 0;
        for (let i = 0; i < B; i++) x ^= fn();
        sink ^= x;
      },
    });
    const headerTasks: MicroTask[] = [
      batch('parse TS header (view + options)', () => parseView(segTs)),
      batch('parse TS+SACK(3) header (view + options)', () => parseView(segSack)),
      batch('parseTcp repr TS+SACK(3), no checksum', () => {
        const r = parseTcp(segSack, PEER, LOCAL, { verifyChecksum: false, into: reprOpts });
        if (isWireError(r)) throw new Error('parse failed');
        return r.seq ^ r.options.sackCount;
      }),
      batch('parseTcp repr TS + checksum over 1448 B', () => {
        const r = parseTcp(segTs, PEER, LOCAL, { into: reprOpts });
        if (isWireError(r)) throw new Error('parse failed');
        return r.seq ^ r.payloadLen;
      }),
      batch('emit TS+SACK(3) header, no checksum', () => emitTcp(reprSack, emitBuf, 0, LOCAL, PEER, { skipChecksum: true })),
      batch('emit TS+SACK(3) header + checksum', () => emitTcp(reprSack, emitBuf, 0, LOCAL, PEER)),
      batch('emit TS header + checksum over 1448 B', () => emitTcp(reprData, emitBuf, 0, LOCAL, PEER)),
    ];
    // The emitted bytes must parse back to what went in.
    emitTcp(reprSack, emitBuf, 0, LOCAL, PEER);
    const back = parseTcp(emitBuf.subarray(0, 60), LOCAL, PEER);
    if (isWireError(back) || back.options.sackCount !== 3 || back.options.tsVal !== 77) throw new Error('emit/parse round trip failed');

    // --- receive path ----------------------------------------------------------
    const rx = established();
    let rxBytes = 0;
    rx.raw.tcpRecv(rx.pcb, (_a, pcb, p) => {
      if (p === null) return Err.OK;
      const n = p.totLen;
      rxBytes += n;
      p.free();
      rx.raw.tcpRecved(pcb, n);
      return Err.OK;
    });
    const rxFrame = peerFrame({ seq: rx.peerNxt, ack: rx.localNxt, flags: TcpFlag.ACK | TcpFlag.PSH, window: 0xffff, ts: [6000, rx.localTsVal], data: payload });
    if (rxFrame.length !== 1500) throw new Error(`data frame is ${rxFrame.length} bytes`);
    let rxSeq = rx.peerNxt;
    const rxAcksBefore = rx.out.frames;
    const rxTask: MicroTask = {
      name: 'rx: 1448 B in-order segment via stack.input (+ driver copy, checksums, recv, recved)',
      bytesPerOp: MSS_PAYLOAD,
      fn: () => {
        patchU32(rxFrame, 24, rxSeq);
        rxSeq = (rxSeq + MSS_PAYLOAD) >>> 0;
        deliver(rx.stack, rx.netif, rxFrame);
      },
    };

    // --- output path -----------------------------------------------------------
    // A large initial window, so 32 segments go out before the first ACK.
    const tx = established({ initialWindowSegments: 64 });
    const ackFrame = peerFrame({ seq: tx.peerNxt, ack: tx.localNxt, flags: TcpFlag.ACK, window: 0xffff, ts: [6000, tx.localTsVal] });
    let txNxt = tx.localNxt;
    let txWrites = 0;
    const txFramesBefore = tx.out.frames;
    const sendOne = (): void => {
      if (tx.raw.tcpWrite(tx.pcb, payload, WriteFlag.COPY) !== Err.OK) throw new Error('tcpWrite failed');
      if (tx.raw.tcpOutput(tx.pcb) !== Err.OK) throw new Error('tcpOutput failed');
      txNxt = (txNxt + MSS_PAYLOAD) >>> 0;
      txWrites++;
    };
    const ackAll = (): void => {
      patchU32(ackFrame, 28, txNxt);
      deliver(tx.stack, tx.netif, ackFrame);
    };
    const txTasks: MicroTask[] = [
      {
        name: 'tx: tcpWrite 1448 B + tcpOutput + ACK in (ACK each)',
        bytesPerOp: MSS_PAYLOAD,
        fn: () => {
          sendOne();
          ackAll();
        },
      },
      {
        name: 'tx: tcpWrite 1448 B + tcpOutput, 1 cumulative ACK per 32',
        bytesPerOp: MSS_PAYLOAD,
        opsPerCall: 32,
        fn: () => {
          for (let i = 0; i < 32; i++) sendOne();
          ackAll();
        },
      },
    ];

    // --- 4-tuple lookup ---------------------------------------------------------
    const L = 256; // lookups per tinybench call
    const lookupTasks: MicroTask[] = [];
    const tables = [10_000, 100_000].map((n) => ({ n, ...lookupTable(n, rng.derive(`lookup${n}`)) }));
    for (const t of tables) {
      const order = new Uint32Array(L * 64);
      for (let i = 0; i < order.length; i++) order[i] = rng.int(t.n);
      let at = 0;
      const active = t.stack.tcp.active;
      lookupTasks.push({
        name: `lookup hit among ${t.n / 1000}k PCBs`,
        opsPerCall: L,
        fn: () => {
          let found = 0;
          for (let i = 0; i < L; i++) {
            const k = order[at]!;
            at = at + 1 === order.length ? 0 : at + 1;
            if (active.lookup(LOCAL, LOCAL_PORT, t.remoteIps[k]!, t.remotePorts[k]!) !== null) found++;
          }
          if (found !== L) throw new Error('lookup missed a connection');
          sink += found;
        },
      });
      lookupTasks.push({
        name: `lookup miss among ${t.n / 1000}k PCBs`,
        opsPerCall: L,
        fn: () => {
          let found = 0;
          for (let i = 0; i < L; i++) {
            const k = order[at]!;
            at = at + 1 === order.length ? 0 : at + 1;
            // Same peer, a port nobody uses (ports are >= 1024).
            if (active.lookup(LOCAL, LOCAL_PORT, t.remoteIps[k]!, 7 + (i & 7)) !== null) found++;
          }
          if (found !== 0) throw new Error('lookup found a connection that does not exist');
          sink += found;
        },
      });
    }

    const { rows, figures } = await runMicro([...headerTasks, rxTask, ...txTasks, ...lookupTasks]);

    // The receive path really delivered every byte in order, verified.
    const rxSegs = (rxSeq - rx.peerNxt) >>> 0;
    if (rx.pcb.rcvNxt !== rxSeq || rxBytes !== rxSegs || rx.stack.stats.tcp.chkerr !== 0 || rx.stack.stats.ip.chkerr !== 0) {
      throw new Error(`receive path did not take every segment (rcvNxt ${rx.pcb.rcvNxt} vs ${rxSeq}, ${rxBytes} bytes)`);
    }
    const rxAcks = rx.out.frames - rxAcksBefore;
    const rxN = rxSegs / MSS_PAYLOAD;
    notes.push(`rx: ${rxN} segments received, ${rxAcks} ACKs sent (${(rxAcks / rxN).toFixed(2)} per segment); rcvWnd ${rx.pcb.rcvWnd} of ${rx.pcb.rcvBufSize}`);
    figures['rx ACKs per segment'] = Math.round((rxAcks / rxN) * 1000) / 1000;
    // Every write went out as one segment and was ACKed and freed.
    const txFrames = tx.out.frames - txFramesBefore;
    if (tx.pcb.sndUna !== txNxt || tx.pcb.unacked.head !== null || tx.pcb.unsent.head !== null) throw new Error('output path left data unacknowledged');
    notes.push(`tx: ${txWrites} writes, ${txFrames} frames sent, sndUna == sndNxt at the end; cwnd ${tx.pcb.cwnd}`);
    if (txFrames !== txWrites) notes.push(`tx: WARNING frames sent (${txFrames}) != writes (${txWrites})`);
    notes.push(
      'rx/tx include the driver copy of the frame into a POOL pbuf (as the simulator and TUN drivers do) and IP input; the virtual clock stands still (timers are armed, never fire)',
      'header tasks and lookups run in batches (64 and 256 per tinybench call); ns/op is per operation',
      `sink ${sink & 1}`,
    );
    for (const t of [rx.stack, tx.stack]) t.close();
    return { name: 'tcp-micro', rows, figures, notes };
  },
};

export default spec;
