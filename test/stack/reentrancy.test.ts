// The Stack's reentrancy rule and deferred work (ARCHITECTURE.md
// "Reentrancy and deferral"), pinned with a fake transport protocol (253)
// whose handler does what a careless user callback would.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import type { Netif } from '../../src/netif/netif.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { Pinger } from '../../src/ip/ping.ts';
import { ReentrancyError, Stack } from '../../src/stack/stack.ts';
import type { VirtualClock } from '../../src/time/virtual-clock.ts';
import { addr, captureStack, ipPacket, pattern } from '../support/packets.ts';

const PROTO = 253;
const dgram = (tag: number): Uint8Array => ipPacket(new Uint8Array([tag, 0, 0, 0]), { protocol: PROTO, ident: tag });

describe('stack reentrancy', () => {
  test('a packet fed while a packet is being processed waits and runs after it', () => {
    const { stack, feed } = captureStack();
    const log: string[] = [];
    stack.ip.register(PROTO, (p) => {
      const tag = p.getAt(0);
      log.push(`start ${tag}`);
      if (tag === 1) {
        feed(dgram(2)); // re-entering input from inside a handler
        expect(stack.stats.stack.inputQueued).toBe(1);
      }
      log.push(`end ${tag}`);
      p.free();
    });
    feed(dgram(1));
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    stack.pool.assertEmpty();
  });

  test('in strict mode re-entering input is refused with a clear error and leaks nothing', () => {
    const { stack, feed } = captureStack({ strictReentrancy: true });
    const seen: unknown[] = [];
    stack.ip.register(PROTO, (p) => {
      const tag = p.getAt(0);
      p.free();
      if (tag === 1) {
        try {
          feed(dgram(2));
        } catch (e) {
          seen.push(e);
        }
      }
    });
    feed(dgram(1));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(ReentrancyError);
    expect(String((seen[0] as Error).message)).toMatch(/re-entered/);
    expect(stack.stats.stack.inputQueued).toBe(0);
    stack.pool.assertEmpty();
  });

  test('defer() inside a packet runs as soon as that packet is processed, before the next one, at the same instant', () => {
    const { stack, feed } = captureStack();
    const clock = stack.clock as VirtualClock;
    clock.advanceTo(1234);
    const log: string[] = [];
    stack.ip.register(PROTO, (p) => {
      const tag = p.getAt(0);
      p.free();
      log.push(`packet ${tag}`);
      if (tag === 1) {
        feed(dgram(2));
        stack.defer(() => {
          log.push(`deferred at ${clock.now()} busy=${stack.inInput}`);
        });
      }
    });
    feed(dgram(1));
    expect(log).toEqual(['packet 1', 'deferred at 1234 busy=false', 'packet 2']);
    expect(clock.pendingTimers()).toBe(0);
    stack.pool.assertEmpty();
  });

  test('deferred work may send: its output is not processed inside it', () => {
    const { stack, feed, sent } = captureStack();
    stack.ip.register(PROTO, (p) => {
      p.free();
      stack.defer(() => {
        const q = stack.pool.alloc(0, 4)!;
        q.take(new Uint8Array([9, 9, 9, 9]));
        expect(stack.ip.output(q, 0, addr('10.0.0.2'), PROTO)).toBe(Err.OK);
        q.free();
      });
    });
    feed(dgram(1));
    expect(sent).toHaveLength(1);
    stack.pool.assertEmpty();
  });

  test('defer() from outside the stack never runs inline: it runs on the next clock turn', () => {
    const { stack } = captureStack();
    const clock = stack.clock as VirtualClock;
    let ran = false;
    stack.defer(() => (ran = true));
    expect(ran).toBe(false);
    expect(clock.nextDeadline()).toBe(0);
    clock.runNext();
    expect(ran).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });

  test('the input queue is bounded; overflow is counted and freed', () => {
    const { stack, feed } = captureStack({ inputQueueLimit: 3 });
    let handled = 0;
    stack.ip.register(PROTO, (p) => {
      p.free();
      handled++;
      if (handled === 1) for (let i = 0; i < 10; i++) feed(dgram(10 + i));
    });
    feed(dgram(1));
    expect(handled).toBe(4);
    expect(stack.stats.stack.inputQueueDrops).toBe(7);
    stack.pool.assertEmpty();
  });

  test('a synchronous device answering inside our own output may queue 64 times the limit (its answers are not losses the burst inflicts on itself); beyond that, drops', () => {
    for (const [answers, dropped] of [
      [150, 0],
      [200, 8],
    ] as const) {
      // IPv4 by hand: a device that, for each packet the stack sends, delivers `answers` packets back before returning.
      const stack = new Stack({ pool: { trackLive: true }, inputQueueLimit: 3 });
      const feedTo = (netif: Netif, bytes: Uint8Array): void => {
        const p = stack.pool.alloc(PbufLayer.RAW, bytes.length, PbufType.POOL)!;
        p.take(bytes);
        stack.input(p, netif);
      };
      const dev: Netif = stack.addNetif({
        name: 'sync0',
        addr: addr('10.9.0.1'),
        prefixLength: 24,
        mtu: 1500,
        output: () => {
          for (let i = 0; i < answers; i++) feedTo(dev, ipPacket(new Uint8Array([i, 0, 0, 0]), { src: '10.9.0.2', dst: '10.9.0.1', protocol: PROTO, ident: i }));
          return Err.OK;
        },
      });
      let handled = 0;
      stack.ip.register(PROTO, (p) => {
        p.free();
        handled++;
      });
      const out = stack.pool.alloc(PbufLayer.TRANSPORT, 4, PbufType.RAM)!;
      expect(stack.ip.output(out, addr('10.9.0.1'), addr('10.9.0.2'), PROTO)).toBe(Err.OK);
      out.free();
      // Queued while the stack's output ran; processed on the clock's next turn (same instant).
      const clock = stack.clock as VirtualClock;
      for (let i = 0; i < 10 && (clock.nextDeadline() ?? Infinity) <= clock.now(); i++) clock.runNext();
      expect(handled, `${answers} answers`).toBe(answers - dropped);
      expect(stack.stats.stack.inputQueueDrops).toBe(dropped);
      stack.pool.assertEmpty();
      stack.close();
    }
  });

  test('an exception in a handler is counted, rethrown once the stack is consistent, and the stack keeps working', () => {
    const { stack, feed, sent } = captureStack();
    stack.ip.register(PROTO, (p) => {
      p.free();
      throw new Error('bug in a handler');
    });
    expect(() => feed(dgram(1))).toThrow('bug in a handler');
    expect(stack.stats.stack.internalErrors).toBe(1);
    expect(stack.busy).toBe(false);
    // Still alive: an echo request is answered.
    feed(ipPacket(new Uint8Array([8, 0, 0xf7, 0xff, 0, 0, 0, 0])));
    expect(sent).toHaveLength(1);
    stack.pool.assertEmpty();
  });

  test('with onInternalError the exception goes to the handler instead', () => {
    const errors: unknown[] = [];
    const { stack, feed } = captureStack({ onInternalError: (e) => errors.push(e) });
    stack.ip.register(PROTO, (p) => {
      p.free();
      throw new Error('bug');
    });
    feed(dgram(1));
    expect(errors).toHaveLength(1);
    stack.pool.assertEmpty();
  });

  test('loopback: pinging our own address is answered, never synchronously inside the send', () => {
    const { stack } = captureStack();
    let inSend = false;
    let repliesDuringSend = 0;
    stack.icmp.onEchoReply(() => {
      if (inSend) repliesDuringSend++;
    });
    const pinger = new Pinger(stack, stack.icmp, { dst: addr('10.0.0.1'), count: 3, intervalMs: 10 });
    inSend = true;
    stack.ping('10.0.0.1', 1, 1, pattern(8));
    inSend = false;
    pinger.start();
    const clock = stack.clock as VirtualClock;
    while (!pinger.done && clock.runNext()) {
      /* run */
    }
    expect(repliesDuringSend).toBe(0);
    expect(pinger.result.received).toBe(3);
    expect(pinger.result.rttsMs).toEqual([0, 0, 0]);
    expect(stack.loopback.counters.txPackets).toBe(8); // 4 requests and 4 replies, all through loopback
    expect(clock.pendingTimers()).toBe(0); // an idle stack schedules nothing
    stack.pool.assertEmpty();
  });

  test('a closed stack frees what it is handed', () => {
    const { stack, feed } = captureStack();
    stack.close();
    feed(dgram(1));
    stack.pool.assertEmpty();
  });
});
