// A Linux TUN device as a tsip netif, over the project's N-API addon
// (native/tun/tun.cc). Received packets arrive in batches (one wake-up of
// the event loop), each copied into a pbuf and fed to the stack; sent
// packets are written one by one. With `offload`, every packet carries a
// 10-byte virtio_net_hdr: checksums the kernel left partial are not
// verified, and segments larger than the MTU may come in (and go out, with
// a GSO header, when the TCP layer builds them).
//
// With `txThread`, sent packets go into a ring in the addon's memory instead
// (tun-ring.ts) and a native thread writes them: the kernel's receive path,
// which a TUN write(2) runs inline, then runs beside the JavaScript thread.
//
// With `rxThread`, a native thread reads the device into a second ring
// (tun-rx-ring.ts) while there is a backlog, and the JavaScript thread
// takes the packets from there, in place, with no system call of its own.
import type { LinkOutput, Netif } from './netif.ts';
import { Err } from '../err.ts';
import { type Pbuf, PbufFlag, PbufType } from '../pbuf/pbuf.ts';
import type { PbufPool } from '../pbuf/pool.ts';
import { foldSum, ipv4PseudoHeaderSum, onesSum } from '../wire/checksum.ts';
import { ipv6PseudoHeaderSum } from '../wire/checksum6.ts';
import { loadTunAddonModule } from './tun-addon.ts';
import { type RingLayout, TxRing } from './tun-ring.ts';
import { LEN_MASK, RX_COALESCED, RX_CSUM_OK, RxRing, type RxRingLayout, type RxStartOptions, type RxThreadStats } from './tun-rx-ring.ts';

/** The addon's TunDevice, as the JavaScript side sees it. */
interface AddonDevice {
  readonly name: string;
  readonly fd: number;
  readonly vnetHdr: boolean;
  /** onBatch(records, merged): `merged` segments were folded into the records before them (an older addon passes none). */
  /** onBatch returns false when the stack has input queued for a later turn (busy polling stops). */
  start(slab: ArrayBuffer, meta: Uint32Array, onBatch: (count: number, merged?: number) => boolean, onError: (err: Error) => void, o?: { coalesce: boolean; busyPollUs?: number }): void;
  stop(): void;
  /** Bytes written, or -errno when the kernel queue is full (packet dropped). */
  write(data: Uint8Array): number;
  writeBatch(slab: Uint8Array, meta: Uint32Array, count: number): number;
  close(): void;
  /** Start the transmit thread; the ring's memory (control words, then records). */
  startTx?(o: { ringBytes: number; spinUs: number }): ArrayBuffer;
  /** Wake the transmit thread (it said it sleeps). */
  kick?(): void;
  /** Wait (blocking) until the ring has this many bytes free; free bytes. */
  txWait?(freeBytes: number, timeoutMs: number): number;
  /** Write the published records on this thread (the transmit thread held asleep). */
  txInline?(): void;
  /** Start the receive thread (after start()); the ring's memory. */
  startRx?(o: RxStartOptions, onRx: () => void): ArrayBuffer;
  rxKick?(): void;
  rxInline?(): void;
  /** [packets read while busy polling, empty reads] (absent in an older addon). */
  busyPollStats?(): [number, number];
}

interface Addon {
  TunDevice: new (o: { name?: string; vnetHdr?: boolean; offload?: boolean; netns?: string }) => AddonDevice;
  VNET_HDR_LEN: number;
  /** Word indices of the transmit ring's control area (absent in an older addon). */
  TX_RING?: RingLayout;
  /** Word indices of the receive ring's control area (absent in an older addon). */
  RX_RING?: RxRingLayout;
  /** The transmit ring's "complete the TCP checksum" length bit (absent in an older addon). */
  TX_CSUM_NEEDED?: number;
  /** The transmit ring's "cut this TCP super-segment" length bit (absent in an older addon). */
  TX_GSO?: number;
}

/** A TUN problem with a clear reason (no permission, busy, removed, addon missing). */
export class TunError extends Error {
  override name = 'TunError';
  constructor(
    message: string,
    readonly errno?: number,
    readonly syscall?: string,
  ) {
    super(message);
  }
}

/** Load the addon (see tun-addon.ts for where it is looked for); a TunError says why it is missing and how to fix it. */
export function loadTunAddon(): Addon {
  const { addon, status } = loadTunAddonModule();
  if (addon === null) throw new TunError(status.why ?? 'the TUN addon is not available');
  return addon as Addon;
}

/** virtio_net_hdr (linux/virtio_net.h), little-endian on the hosts tsip runs on. */
export const VNET_HDR_LEN = 10;
const VNET_F_NEEDS_CSUM = 1;
const VNET_F_DATA_VALID = 2;
const VNET_GSO_NONE = 0;
const VNET_GSO_TCPV4 = 1;
const VNET_GSO_TCPV6 = 4;

/** Explain an errno from opening the device in plain words. */
function describeOpenError(e: Error & { errno?: number; syscall?: string }, name: string, netns: string | undefined): TunError {
  const n = e.errno;
  let why = e.message;
  if (n === 1 || n === 13) why = `no permission to create TUN device ${name} (run as root or with CAP_NET_ADMIN): ${e.message}`;
  else if (n === 16) why = `TUN device ${name} is busy (another process has it open): ${e.message}`;
  else if (n === 2 && netns) why = `network namespace ${netns} does not exist: ${e.message}`;
  else if (n === 2) why = `/dev/net/tun is missing: ${e.message}`;
  return new TunError(why, n, e.syscall);
}

export interface TunOptions {
  /** Device name (default tsip0). */
  name?: string;
  /** Open the device inside this named network namespace. */
  netns?: string;
  /** Enable the vnet header with checksum and TSO offload. */
  offload?: boolean;
  /** Most packets read per wake-up (default 256). */
  batch?: number;
  /**
   * Most bytes read per wake-up, roughly (default 128 KiB; a batch stops
   * once this much is in, so it may end up to one packet larger). The
   * application runs only between batches, so a batch larger than a TCP
   * receive window (256 KiB by default) fills it before anyone can read:
   * tsip then advertises a zero window although its reader is idle.
   */
  batchBytes?: number;
  /** Called with every packet in and out (pcap), the bytes being the IP packet. */
  tap?: (dir: 'in' | 'out', bytes: Uint8Array) => void;
  /**
   * Fault injection on a real device: return false to drop the packet
   * (counted in rxFiltered / txFiltered), as a lossy link would. Runs
   * after the tap, so a capture still shows what was dropped. For tests
   * of loss recovery against a real peer (the kernel's TCP).
   */
  filter?: (dir: 'in' | 'out', bytes: Uint8Array) => boolean;
  /**
   * Shaping in user space (loss, delay, rate...: sim/device-faults.ts
   * builds one from the simulator's link stages). Every record goes
   * through it, both ways; with offload a record keeps its vnet header.
   */
  shaper?: TunShaper;
  /** The device failed while running (removed, I/O error). */
  onError?: (err: TunError) => void;
  /**
   * Write packets from a native thread (default: on; off with false or
   * env TSIP_TUN_TX_THREAD=0): they are copied into a ring the thread
   * drains, with no N-API call per packet, and the kernel's receive path
   * that a TUN write runs inline runs on that thread. While the ring is
   * full the JavaScript thread waits for room (as a blocking write
   * would). true with an addon older than the thread: a TunError.
   */
  txThread?: boolean;
  /** Transmit ring size in bytes, rounded up to a power of two (default 1 MiB). */
  txRingBytes?: number;
  /** How long the transmit thread spins for more before it sleeps, µs (default 0: on a loaded 2-core machine spinning took CPU from the JavaScript thread). */
  txSpinUs?: number;
  /**
   * Packets are handed to the thread in bursts: at the end of the
   * JavaScript task that sent them, or as soon as this many bytes wait
   * (default 16 KiB).
   */
  txPublishBytes?: number;
  /**
   * A burst of at most this many packets (and 4 KiB) that finds the
   * transmit thread asleep is written directly, on the JavaScript thread
   * (default 2; 0: always through the thread): a request/response
   * exchange keeps the cost and latency of a direct write, bulk transfers
   * go to the thread.
   */
  txInlineRecords?: number;
  /**
   * Read packets on a native thread while they come in faster than one
   * at a time (default: on; off with false or env TSIP_TUN_RX_THREAD=0):
   * the thread read(2)s them into a ring in the addon's memory and the
   * JavaScript thread takes them from there, in place, with no system
   * call or N-API call per packet or per batch (it is woken only when it
   * was idle). Reading starts on the JavaScript thread, as without the
   * thread, and moves to the thread when one read finds rxThreadEngage
   * packets waiting; the thread hands it back after rxThreadIdleWakes
   * wake-ups in a row that each carried a packet or two to an idle
   * JavaScript thread (request/response: there the thread would add a
   * thread wake-up to every packet). true with an addon older than the
   * thread: a TunError.
   */
  rxThread?: boolean;
  /** Receive ring size in bytes, rounded up to a power of two (default 1 MiB). */
  rxRingBytes?: number;
  /** Packets one read on the JavaScript thread must find to hand reading to the thread (default 8; 0: the thread always reads). */
  rxThreadEngage?: number;
  /** Lone-packet wake-ups in a row after which the thread hands reading back (default 16; 0: never). */
  rxThreadIdleWakes?: number;
  /**
   * Receive coalescing (software GRO) on the receive thread of a plain
   * device (default: on; off with false or env TSIP_TUN_RX_GRO=0): a run of
   * in-order TCP data segments of one connection read in one burst (by the
   * receive thread or by a batch of reads on the JavaScript thread) is
   * merged into one packet of up to 64 KiB (Linux's GRO rules; lengths and
   * checksums made right), so IP and TCP input and the ACK run once per run.
   * Never with a shaper or a filter (they see every packet as it came).
   */
  rxCoalesce?: boolean;
  /**
   * Busy polling on the JavaScript thread's reads, in microseconds (default
   * 0: off; env TSIP_TUN_BUSY_POLL_US), as SO_BUSY_POLL does for a Linux
   * socket: after a batch of received packets, the device keeps reading
   * (without sleeping in epoll) until no packet came for this long. A peer
   * that answers within it, on another CPU, is read without the wake-up
   * between its packet and tsip's read: request/response latency, not
   * throughput. The cost is CPU spent polling (an empty read yields the
   * CPU to other runnable tasks). Polling ends early when the stack queues
   * input for a later turn, and after 2 ms in one go, so timers and other
   * I/O keep their turn. Up to 1e6; at most what the peer's think time is
   * worth (50-100 is typical).
   */
  busyPollUs?: number;
  /**
   * Transmit segmentation (software GSO) on a plain device with the
   * transmit ring (default: on; off with false or env TSIP_TUN_TX_GSO=0):
   * TCP builds segments of up to 64 KiB, as for a device with TSO, and the
   * addon's writer cuts each into MTU-sized packets (headers and checksums
   * per packet, payload written from the ring with no copy). Never with a
   * shaper or a filter (they see every packet as it goes).
   */
  txSegmentation?: boolean;
}

/**
 * Where a device's records pass between tsip and the kernel. The device
 * binds it once, at open, to the two ends; the shaper then calls them,
 * now or later (from clock timers), zero or more times per record. The
 * records it is handed are views into buffers the device reuses: a shaper
 * that keeps one must copy it.
 */
export interface TunShaper {
  bind(toKernel: (record: Uint8Array) => void, toStack: (record: Uint8Array) => void): void;
  /** A record tsip sends (tap already called). */
  out(record: Uint8Array): void;
  /** A record read from the kernel. */
  in(record: Uint8Array): void;
}

/** What the device needs from the stack (a Stack satisfies it). */
export interface TunHost {
  readonly pool: PbufPool;
  /** The stack's IP: told that TCP may leave checksums to this netif (Ip.txCsumOffload). */
  readonly inet?: { txCsumOffload: boolean };
  addNetif(o: { name: string; addr?: number | string; prefixLength?: number; addr6?: string | readonly string[]; prefixLength6?: number; mtu?: number; output: LinkOutput; isDefault?: boolean }): Netif;
  /** Bracket one batch of received packets (Stack: one ACK per connection per batch). */
  beginInputBatch?(): void;
  endInputBatch?(): void;
  /** Input queued for a later turn (the device then stops busy polling). */
  inputBacklog?(): boolean;
}

export interface TunCounters {
  rxPackets: number;
  rxBytes: number;
  rxBatches: number;
  /** Packets larger than the MTU received (kernel GSO). */
  rxGso: number;
  rxCsumPartial: number;
  /** Received packets dropped (no pbuf memory, bad vnet header). */
  rxDrops: number;
  /**
   * Of rxDrops, those for want of pbuf memory: the whole pool was full,
   * its input reserve included (see PbufUse.RX).
   */
  rxNoMem: number;
  /** Received packets the filter option dropped. */
  rxFiltered: number;
  txPackets: number;
  txBytes: number;
  /** Super-segments sent with a GSO header for the kernel to cut. */
  txGso: number;
  /** TCP packets whose checksum the addon's writer completed (plain TUN, transmit ring, no tap): JavaScript did not sum their data. */
  txCsumNative: number;
  /** TCP super-segments handed to the addon's writer to cut (txSegmentation); each counts once in txPackets. */
  txGsoNative: number;
  /** Packets the kernel refused (queue full). */
  txDrops: number;
  /** Packets (or super-segments) the filter option dropped. */
  txFiltered: number;
  /** With txThread: times the JavaScript thread woke the sleeping transmit thread. */
  txKicks: number;
  /** With txThread: times the ring was full and the JavaScript thread waited for room. */
  txWaits: number;
  /** With txThread: packets written directly (short bursts that found the thread asleep). */
  txInline: number;
  /** With rxThread: packets taken from the receive ring (of rxPackets; the others were read on the JavaScript thread). */
  rxRing: number;
  /**
   * Segments that JavaScript-thread reads merged into the packet before
   * them (rxCoalesce; each merged packet counts once in rxPackets). The
   * receive thread counts its own in rxThreadStats().coalesced.
   */
  rxCoalesced: number;
}

export class TunDevice {
  readonly name: string;
  readonly offload: boolean;
  readonly counters: TunCounters = { rxPackets: 0, rxBytes: 0, rxBatches: 0, rxGso: 0, rxCsumPartial: 0, rxDrops: 0, rxNoMem: 0, rxFiltered: 0, txPackets: 0, txBytes: 0, txGso: 0, txCsumNative: 0, txGsoNative: 0, txDrops: 0, txFiltered: 0, txKicks: 0, txWaits: 0, txInline: 0, rxRing: 0, rxCoalesced: 0 };
  private readonly dev: AddonDevice;
  private readonly slab: ArrayBuffer;
  private readonly slabU8: Uint8Array;
  private readonly meta: Uint32Array;
  private readonly tx = new Uint8Array(VNET_HDR_LEN + 65536);
  private readonly txView = new DataView(this.tx.buffer);
  private netif: Netif | null = null;
  private pool: PbufPool | null = null;
  private host: TunHost | null = null;
  private closed = false;
  private inBatch = false;
  /** The transmit ring, with txThread. */
  private readonly ring: TxRing | null = null;
  /** The receive ring, with rxThread (started by attach). */
  private rxRing: RxRing | null = null;
  private readonly rxLayout: RxRingLayout | undefined;
  private rxWanted = false;
  private rxQueued = false;
  private readonly rxBatch: number;
  private readonly rxBudget: number;

  private constructor(
    dev: AddonDevice,
    private readonly opts: TunOptions,
    layout: RingLayout | undefined,
    rxLayout?: RxRingLayout,
    /** The addon's TX_CSUM_NEEDED (0: it cannot complete checksums). */
    private readonly txCsumBit = 0,
    /** The addon's TX_GSO (0: it cannot cut super-segments). */
    private readonly txGsoBit = 0,
  ) {
    this.dev = dev;
    this.name = dev.name;
    this.offload = dev.vnetHdr;
    const batch = opts.batch ?? 256;
    // The addon reads while a largest packet (64 KiB + vnet header) still
    // fits in the slab: sizing it to the byte budget plus one such packet
    // caps a batch at about batchBytes (8-aligned offsets: 16 bytes slack each).
    const budget = Math.min(opts.batchBytes ?? 128 * 1024, batch * (65536 + 16));
    this.slab = new ArrayBuffer(budget + (65536 + 16));
    this.slabU8 = new Uint8Array(this.slab);
    this.meta = new Uint32Array(2 * batch);
    this.rxBatch = batch;
    this.rxBudget = budget;
    // On by default (env TSIP_TUN_TX_THREAD=0 or txThread: false: direct
    // writes); by default only where the addon has the thread (an older
    // addon named by TSIP_TUN_ADDON writes directly), on request always.
    const env = process.env.TSIP_TUN_TX_THREAD;
    const want = opts.txThread ?? (env === undefined || env === '' ? null : env !== '0');
    if (want === true || (want === null && layout !== undefined && typeof dev.startTx === 'function')) {
      let ring: TxRing;
      try {
        ring = TxRing.start(dev, layout, { ringBytes: opts.txRingBytes ?? 1 << 20, spinUs: opts.txSpinUs ?? 0 });
      } catch (e) {
        throw new TunError(`TUN device ${this.name}: ${(e as Error).message}`);
      }
      if (opts.txPublishBytes !== undefined) ring.publishBytes = opts.txPublishBytes;
      if (opts.txInlineRecords !== undefined) ring.inlineRecords = opts.txInlineRecords;
      ring.onFlush = () => {
        if (ring.dropsOrFatalChanged()) this.syncRingCounters();
        this.counters.txKicks = ring.kicks;
        this.counters.txInline = ring.inlined;
      };
      this.ring = ring;
    }
    // The receive thread: the same defaults and choices (env TSIP_TUN_RX_THREAD).
    const rxEnv = process.env.TSIP_TUN_RX_THREAD;
    const rxWant = opts.rxThread ?? (rxEnv === undefined || rxEnv === '' ? null : rxEnv !== '0');
    this.rxLayout = rxLayout;
    if (rxWant === true && (rxLayout === undefined || typeof dev.startRx !== 'function')) {
      throw new TunError(`TUN device ${this.name}: rxThread needs a TUN addon with a receive thread: rebuild it (npm rebuild tsip, or npm ci in a checkout)`);
    }
    this.rxWanted = rxWant === true || (rxWant === null && rxLayout !== undefined && typeof dev.startRx === 'function');
    opts.shaper?.bind(
      (record) => this.writeRecord(record),
      (record) => this.deliverRecord(record),
    );
  }

  /** Open (create) the TUN device. */
  static open(opts: TunOptions = {}): TunDevice {
    busyPollMicros(opts); // a bad value fails before the device exists
    const a = loadTunAddon();
    const name = opts.name ?? 'tsip0';
    let dev: AddonDevice;
    try {
      dev = new a.TunDevice({ name, vnetHdr: !!opts.offload, offload: !!opts.offload, ...(opts.netns ? { netns: `/var/run/netns/${opts.netns}` } : {}) });
    } catch (e) {
      throw describeOpenError(e as Error & { errno?: number; syscall?: string }, name, opts.netns);
    }
    try {
      return new TunDevice(dev, opts, a.TX_RING, a.RX_RING, a.TX_CSUM_NEEDED ?? 0, a.TX_GSO ?? 0);
    } catch (e) {
      dev.close();
      throw e;
    }
  }

  /**
   * Attach to a stack as a netif with tsip's address `addr` (the kernel's
   * side is configured separately, see tun-ip.ts) and start receiving.
   */
  attach(host: TunHost, o: { addr?: string | number; prefixLength?: number; addr6?: string | readonly string[]; prefixLength6?: number; mtu: number; isDefault?: boolean }): Netif {
    if (this.netif !== null) throw new TunError('TUN device already attached');
    this.pool = host.pool;
    this.host = host;
    const netif = host.addNetif({
      name: this.name,
      ...(o.addr !== undefined ? { addr: o.addr, prefixLength: o.prefixLength ?? 24 } : {}),
      ...(o.addr6 !== undefined ? { addr6: o.addr6, prefixLength6: o.prefixLength6 ?? 64 } : {}),
      mtu: o.mtu,
      isDefault: o.isDefault ?? true,
      output: (p) => this.output(p),
    });
    // With offload the kernel takes (and sends) up to 64 KiB TCP segments;
    // a plain device's transmit ring cuts them itself (txSegmentation).
    if (this.offload || this.txGso) netif.gsoMaxSize = 65535;
    // TCP leaves its checksum to this netif (Netif.txCsumOffload): the
    // kernel completes it (offload: NEEDS_CSUM in the vnet header), else
    // the addon's writer does (a ring record marked TX_CSUM_NEEDED), else
    // output() here; either way not a second time in JavaScript.
    netif.txCsumOffload = true;
    if (host.inet !== undefined) host.inet.txCsumOffload = true;
    this.netif = netif;
    const opts = this.opts;
    const coalesce = (opts.rxCoalesce ?? process.env.TSIP_TUN_RX_GRO !== '0') && opts.shaper === undefined && opts.filter === undefined;
    this.dev.start(
      this.slab,
      this.meta,
      (count, merged) => this.onBatch(count, merged ?? 0),
      (err) => this.onDeviceError(err),
      { coalesce, busyPollUs: busyPollMicros(opts) },
    );
    if (this.rxWanted) {
      try {
        this.rxRing = RxRing.start(this.dev, this.rxLayout, { ringBytes: opts.rxRingBytes ?? 1 << 20, engage: opts.rxThreadEngage ?? 8, idleWakes: opts.rxThreadIdleWakes ?? 16, coalesce }, this.drainRx);
      } catch (e) {
        this.dev.stop();
        throw new TunError(`TUN device ${this.name}: ${(e as Error).message}`);
      }
    }
    return netif;
  }

  /** Stop receiving and close the device (it disappears with its last fd). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.netif !== null) this.netif.linkUp = false;
    this.ring?.publish();
    this.dev.close(); // with txThread: writes what is queued, joins the thread
    if (this.ring !== null) this.syncRingCounters();
  }

  /** Whether packets may come in through the receive thread. */
  get rxThread(): boolean {
    return this.rxRing !== null;
  }

  /** The receive thread's own counts, or null without one. */
  /** Busy polling (TunOptions.busyPollUs): packets it read, and its empty reads; zeros when off. */
  busyPollStats(): { packets: number; emptyReads: number } {
    const [packets, emptyReads] = this.dev.busyPollStats?.() ?? [0, 0];
    return { packets, emptyReads };
  }

  rxThreadStats(): RxThreadStats | null {
    return this.rxRing?.stats() ?? null;
  }

  /**
   * Take what the receive thread published, one batch (batch packets,
   * batchBytes) at a time as the uv_poll path does, the application
   * running between batches (setImmediate); then say it is idle. Called
   * by the addon when the thread woke this idle thread.
   */
  private readonly drainRx = (): void => {
    this.rxQueued = false;
    const ring = this.rxRing;
    if (ring === null || this.closed) return;
    for (;;) {
      const full = this.rxRingBatch(ring);
      if (this.closed) return;
      if (full) {
        // More may wait: the rest after the application's turn, as uv_poll would.
        if (!this.rxQueued) {
          this.rxQueued = true;
          setImmediate(this.drainRx);
        }
        return;
      }
      const s = ring.idle();
      if (s === 'more') continue;
      if (s === 'fatal') {
        const err = ring.fatal();
        this.dev.stop();
        this.onDeviceError(Object.assign(new Error(`read: errno ${err}`), { errno: err }));
      }
      return;
    }
  };

  /** One batch from the receive ring into the stack; true when it stopped at the batch limits. */
  private rxRingBatch(ring: RxRing): boolean {
    const c = this.counters;
    const netif = this.netif!;
    const pool = this.pool!;
    const host = this.host!;
    const data = ring.data;
    const shaper = this.opts.shaper;
    let off = ring.next();
    if (off < 0) return false;
    c.rxBatches++;
    let packets = 0;
    let bytes = 0;
    host.beginInputBatch?.();
    this.inBatch = true;
    try {
      for (;;) {
        const len = ring.len;
        if (shaper !== undefined) shaper.in(data.subarray(off, off + len));
        else this.inputRecord(data, off, len, netif, pool, c, (ring.csumOk ? PbufFlag.CSUM_VALID : 0) | (ring.merged ? PbufFlag.COALESCED : 0));
        packets++;
        bytes += len;
        if (packets >= this.rxBatch || bytes >= this.rxBudget || this.closed) break;
        off = ring.next();
        if (off < 0) break;
      }
    } finally {
      this.inBatch = false;
      c.rxRing += packets;
      host.endInputBatch?.();
      ring.release();
    }
    return off >= 0;
  }

  /**
   * Whether TCP hands this plain device 64 KiB super-segments that the
   * addon's writer cuts into MTU-sized packets (TunOptions.txSegmentation).
   */
  get txGso(): boolean {
    if (this.offload || this.ring === null || this.txGsoBit === 0 || this.opts.shaper !== undefined || this.opts.filter !== undefined) return false;
    return this.opts.txSegmentation ?? process.env.TSIP_TUN_TX_GSO !== '0';
  }

  /** Whether packets go out through the transmit thread. */
  get txThread(): boolean {
    return this.ring !== null;
  }

  /** The transmit thread's own counts (packets it wrote, times it was woken, bytes queued), or null without one. */
  txThreadStats(): { packets: number; wakeups: number; lastErrno: number; queuedBytes: number } | null {
    return this.ring?.stats() ?? null;
  }

  /** Fold the transmit thread's counters into `counters` (drops); a fatal error reports the device failed. */
  private syncRingCounters(): void {
    const r = this.ring!;
    this.counters.txDrops = this.txDropsSync + r.drops();
    this.counters.txKicks = r.kicks;
    this.counters.txInline = r.inlined;
    const fatal = r.fatal();
    if (fatal !== 0 && !this.ringFailed && !this.closed) {
      // The thread stopped (the device went away): as the receive side's
      // failure, but never thrown into the stack's output path.
      this.ringFailed = true;
      this.closed = true;
      if (this.netif !== null) this.netif.linkUp = false;
      const e = new TunError(`TUN device ${this.name} failed: write: errno ${fatal}${fatal === 77 || fatal === 5 ? ' (was the device or its namespace removed?)' : ''}`, fatal, 'write');
      if (this.opts.onError) queueMicrotask(() => this.opts.onError!(e));
    }
  }
  private txDropsSync = 0;
  private ringFailed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** A batch from the addon's reads; false: the stack has input queued for later (busy polling stops). */
  private onBatch(count: number, merged: number): boolean {
    const c = this.counters;
    c.rxBatches++;
    c.rxCoalesced += merged;
    const netif = this.netif!;
    const pool = this.pool!;
    const slab = this.slabU8;
    const meta = this.meta;
    const host = this.host!;
    host.beginInputBatch?.();
    this.inBatch = true;
    try {
      const shaper = this.opts.shaper;
      // The length's bit 24: the addon found the TCP/UDP checksum right (a shaper may change the bytes: not passed on).
      if (shaper !== undefined) {
        for (let i = 0; i < count; i++) shaper.in(slab.subarray(meta[2 * i]!, meta[2 * i]! + (meta[2 * i + 1]! & LEN_MASK)));
      } else {
        for (let i = 0; i < count; i++) {
          const w = meta[2 * i + 1]!;
          this.inputRecord(slab, meta[2 * i]!, w & LEN_MASK, netif, pool, c, ((w & RX_CSUM_OK) !== 0 ? PbufFlag.CSUM_VALID : 0) | ((w & RX_COALESCED) !== 0 ? PbufFlag.COALESCED : 0));
        }
      }
    } finally {
      this.inBatch = false;
      host.endInputBatch?.();
    }
    return host.inputBacklog?.() !== true;
  }

  /** A record the shaper lets through to the stack (inside a batch, or later from a timer). */
  private deliverRecord(record: Uint8Array): void {
    if (this.closed || this.netif === null) return;
    if (this.inBatch) {
      this.inputRecord(record, 0, record.length, this.netif, this.pool!, this.counters);
      return;
    }
    const host = this.host!;
    host.beginInputBatch?.();
    try {
      this.inputRecord(record, 0, record.length, this.netif, this.pool!, this.counters);
    } finally {
      host.endInputBatch?.();
    }
  }

  /** One received record into the stack; `flags`: pbuf flags the read path vouches for (CSUM_VALID). */
  private inputRecord(slab: Uint8Array, off: number, len: number, netif: Netif, pool: PbufPool, c: TunCounters, flags = 0): void {
    if (this.offload) {
      if (len < VNET_HDR_LEN) {
        c.rxDrops++;
        return;
      }
      const vflags = slab[off]!;
      if (vflags & VNET_F_NEEDS_CSUM) {
        flags |= PbufFlag.CSUM_PARTIAL;
        c.rxCsumPartial++;
      } else if (vflags & VNET_F_DATA_VALID) {
        flags |= PbufFlag.CSUM_VALID;
      }
      if (slab[off + 1] !== VNET_GSO_NONE) {
        c.rxGso++;
        flags |= PbufFlag.COALESCED; // the kernel's GRO merged it
      }
      off += VNET_HDR_LEN;
      len -= VNET_HDR_LEN;
    }
    c.rxPackets++;
    c.rxBytes += len;
    const bytes = slab.subarray(off, off + len);
    this.opts.tap?.('in', bytes);
    if (this.opts.filter !== undefined && !this.opts.filter('in', bytes)) {
      c.rxFiltered++;
      return;
    }
    // RX use: the pool's input reserve is open to it, so a pool full of
    // unsent data still takes in the RSTs and ACKs that would free it.
    const p = pool.allocRx(len, PbufType.RAM);
    if (p === null) {
      c.rxDrops++;
      c.rxNoMem++;
      return;
    }
    p.buf.set(bytes, p.off);
    p.flags |= flags;
    netif.input(p);
  }

  /** Netif output: the stack keeps `p`, we copy it to the kernel. */
  private output(p: Pbuf): number {
    if (this.closed) return Err.IF;
    const len = p.totLen;
    const hdr = this.offload ? VNET_HDR_LEN : 0;
    const ring = this.ring;
    if (ring !== null && this.opts.shaper === undefined && this.opts.filter === undefined) {
      // Straight from the pbuf into the ring: one copy, as the direct write.
      if (hdr + len > 65536 + VNET_HDR_LEN) return Err.BUF;
      const at = this.reserve(ring, hdr + len);
      if (at < 0) return Err.OK; // counted as a drop: lost on the wire, TCP recovers
      const buf = ring.data;
      p.copyPartial(buf, len, 0, at + hdr);
      let mark = 0;
      if (this.offload) this.fillVnetHeader(p, len, buf, ring.view, at);
      else if (p.gsoSize !== 0 && len > this.netif!.mtu && this.txGsoBit !== 0) return this.outputGso(ring, p, len);
      else if ((p.flags & PbufFlag.CSUM_PARTIAL) !== 0) {
        // The addon's writer completes it, unless a tap must see it whole first.
        const native = this.txCsumBit !== 0 && this.opts.tap === undefined;
        completeTcpChecksumAt(buf, ring.view, at, len, native);
        if (native) {
          mark = this.txCsumBit;
          this.counters.txCsumNative++;
        }
      }
      this.opts.tap?.('out', buf.subarray(at + hdr, at + hdr + len));
      this.commit(ring, hdr + len, mark);
      return Err.OK;
    }
    const tx = this.tx;
    if (hdr + len > tx.length) return Err.BUF;
    p.copyPartial(tx, len, 0, hdr);
    if (!this.offload && (p.flags & PbufFlag.CSUM_PARTIAL) !== 0) completeTcpChecksumAt(tx, this.txView, 0, len, false);
    if (this.opts.filter !== undefined) {
      this.opts.tap?.('out', tx.subarray(hdr, hdr + len));
      if (!this.opts.filter('out', tx.subarray(hdr, hdr + len))) {
        this.counters.txFiltered++;
        return Err.OK; // lost on the wire
      }
    }
    if (this.offload) this.fillVnetHeader(p, len, tx, this.txView, 0);
    const packet = tx.subarray(0, hdr + len);
    const shaper = this.opts.shaper;
    if (shaper !== undefined) {
      if (this.opts.filter === undefined) this.opts.tap?.('out', tx.subarray(hdr, hdr + len));
      shaper.out(packet);
      return Err.OK;
    }
    this.writeRecord(packet);
    if (this.opts.filter === undefined) this.opts.tap?.('out', tx.subarray(hdr, hdr + len));
    return Err.OK;
  }

  /**
   * A TCP super-segment for the addon's writer to cut (a TX_GSO record: the
   * MSS, then the packet; its checksum field is left as TCP left it). A tap
   * sees it whole, checksum completed, as tcpdump sees a GSO packet on Linux.
   */
  private outputGso(ring: TxRing, p: Pbuf, len: number): number {
    const at = this.reserve(ring, 4 + len);
    if (at < 0) return Err.OK;
    const buf = ring.data;
    ring.view.setUint32(at, p.gsoSize, true);
    p.copyPartial(buf, len, 0, at + 4);
    // The writer sums every piece from scratch (gso.h): the super-segment's
    // own checksum is only for a tap's eyes.
    if (this.opts.tap !== undefined) {
      completeTcpChecksumAt(buf, ring.view, at + 4, len, false);
      this.opts.tap('out', buf.subarray(at + 4, at + 4 + len));
    }
    this.commit(ring, len, this.txGsoBit);
    this.counters.txGsoNative++;
    return Err.OK;
  }

  /** Write one record (vnet header included with offload) to the kernel. */
  private writeRecord(record: Uint8Array): void {
    if (this.closed) return;
    const ring = this.ring;
    if (ring !== null) {
      const at = this.reserve(ring, record.length);
      if (at < 0) return;
      ring.data.set(record, at);
      this.commit(ring, record.length);
      return;
    }
    const n = this.dev.write(record);
    const c = this.counters;
    if (n < 0) {
      c.txDrops++; // dropped by a full queue: as a lossy link, TCP recovers
      return;
    }
    c.txPackets++;
    c.txBytes += record.length - (this.offload ? VNET_HDR_LEN : 0);
  }

  /** Room for a record of `len` bytes in the ring (waiting while it is full): its offset in ring.data, or -1 (dropped). */
  private reserve(ring: TxRing, len: number): number {
    let at = ring.reserve(len);
    if (at >= 0) return at;
    this.counters.txWaits++;
    // Full: the thread is writing. Wait for a quarter of the ring, so that
    // the next waits come a burst later, not one packet later.
    ring.waitFree(len, 1000);
    at = ring.reserve(len);
    if (at >= 0) return at;
    this.syncRingCounters();
    this.txDropsSync++;
    this.counters.txDrops++;
    return -1;
  }

  private commit(ring: TxRing, len: number, mark = 0): void {
    ring.commit(mark);
    const c = this.counters;
    c.txKicks = ring.kicks;
    c.txPackets++;
    c.txBytes += len - (this.offload ? VNET_HDR_LEN : 0);
  }

  /**
   * The vnet header for an outgoing packet: none of the work for ordinary
   * packets; for a TCP super-segment (p.gsoSize), GSO TCPv4 or TCPv6 with
   * the MSS and a partial checksum (the pseudo-header sum) for the kernel to
   * finish. tsip's TCP puts no extension headers in front of its segments.
   */
  private fillVnetHeader(p: Pbuf, len: number, tx: Uint8Array, v: DataView, at: number): void {
    tx.fill(0, at, at + VNET_HDR_LEN);
    const gso = p.gsoSize !== 0 && len > this.netif!.mtu;
    if (!gso && (p.flags & PbufFlag.CSUM_PARTIAL) === 0) return;
    const ip = at + VNET_HDR_LEN;
    const six = tx[ip]! >> 4 === 6;
    const ihl = six ? 40 : (tx[ip]! & 0x0f) * 4;
    const tcp = ip + ihl;
    const thl = (tx[tcp + 12]! >> 4) * 4;
    const tcpLen = len - ihl;
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
    const pseudo = six ? ipv6PseudoHeaderSum(tx, ip + 8, tx, ip + 24, tcpLen, 6) : ipv4PseudoHeaderSum(v.getUint32(ip + 12), v.getUint32(ip + 16), 6, tcpLen);
    v.setUint16(tcp + 16, foldSum(pseudo));
    tx[at] = VNET_F_NEEDS_CSUM;
    v.setUint16(at + 6, ihl, true); // csum_start
    v.setUint16(at + 8, 16, true); // csum_offset (TCP checksum field)
    if (!gso) return; // a partial checksum only (gso_type NONE)
    tx[at + 1] = six ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
    v.setUint16(at + 2, ihl + thl, true); // hdr_len
    v.setUint16(at + 4, p.gsoSize, true); // gso_size
    this.counters.txGso++;
  }

  private onDeviceError(err: Error & { errno?: number }): void {
    const e = new TunError(`TUN device ${this.name} failed: ${err.message}${err.errno === 77 || err.errno === 5 ? ' (was the device or its namespace removed?)' : ''}`, err.errno);
    this.closed = true;
    if (this.netif !== null) this.netif.linkUp = false;
    if (this.opts.onError) this.opts.onError(e);
    else throw e;
  }
}

/**
 * A TCP packet at `at` in `buf` (no vnet header) whose checksum TCP left
 * partial (PbufFlag.CSUM_PARTIAL, field 0): store the pseudo-header sum in
 * the field, and with `partialOnly` false finish the checksum here too
 * (else the addon's writer does: TX_CSUM_NEEDED).
 */
function completeTcpChecksumAt(buf: Uint8Array, v: DataView, at: number, len: number, partialOnly: boolean): void {
  const six = buf[at]! >> 4 === 6;
  const ihl = six ? 40 : (buf[at]! & 0x0f) * 4;
  const tcp = at + ihl;
  const tcpLen = len - ihl;
  const pseudo = six ? ipv6PseudoHeaderSum(buf, at + 8, buf, at + 24, tcpLen, 6) : ipv4PseudoHeaderSum(v.getUint32(at + 12), v.getUint32(at + 16), 6, tcpLen);
  if (partialOnly) {
    v.setUint16(tcp + 16, foldSum(pseudo));
    return;
  }
  v.setUint16(tcp + 16, 0);
  v.setUint16(tcp + 16, ~foldSum(onesSum(buf, tcp, tcpLen, pseudo)) & 0xffff);
}

/** TunOptions.busyPollUs, else env TSIP_TUN_BUSY_POLL_US, else 0; a TunError for a value out of [0, 1e6]. */
function busyPollMicros(opts: TunOptions): number {
  const env = process.env.TSIP_TUN_BUSY_POLL_US;
  const v = opts.busyPollUs ?? (env === undefined || env === '' ? 0 : Number(env));
  if (typeof v !== 'number' || !(v >= 0 && v <= 1e6)) throw new TunError(`busyPollUs must be a number of microseconds from 0 to 1e6, got ${String(v)}${opts.busyPollUs === undefined ? ' (env TSIP_TUN_BUSY_POLL_US)' : ''}`);
  return v;
}
