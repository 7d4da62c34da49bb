// Bounded work per pass (ARCHITECTURE.md "Bounded work", issue 12 finding
// 1): one drain pass of the Stack processes at most `drainBudget` queued
// packets and deferred work items, then yields and continues on a later
// turn of its clock (Clock.soon). A stack that talks to itself forever
// through its loopback netif therefore never starves Node's event loop, and
// can be stopped. Pinned with a fake transport protocol (253) whose handler
// sends every packet it receives back to the stack's own address.
import { describe, expect, test } from 'vitest';
import { Err } from '../../src/err.ts';
import { PbufType } from '../../src/pbuf/pbuf.ts';
import { PbufLayer } from '../../src/pbuf/pool.ts';
import { Stack } from '../../src/stack/stack.ts';
import { RealClock } from '../../src/time/real-clock.ts';
import { VirtualClock } from '../../src/time/virtual-clock.ts';
import { addr, captureStack, ipPacket } from '../support/packets.ts';

const PROTO = 253;
const dgram = (tag: number): Uint8Array => ipPacket(new Uint8Array([tag, 0, 0, 0]), { protocol: PROTO, ident: tag });

/** A handler for PROTO that re-sends each packet to the stack's own address while `looping`. */
function selfLoop(stack: Stack, to = '10.0.0.1'): { count: () => number; stop: () => void } {
  let n = 0;
  let looping = true;
  stack.ip.register(PROTO, (p) => {
    n++;
    p.free();
    if (!looping) return;
    const q = stack.pool.alloc(PbufLayer.TRANSPORT, 4, PbufType.RAM)!;
    q.take(new Uint8Array([1, 2, 3, 4]));
    expect(stack.ip.output(q, 0, addr(to), PROTO)).toBe(Err.OK);
    q.free();
  });
  return { count: () => n, stop: () => (looping = false) };
}

describe('bounded work per pass (virtual time)', () => {
  test('a stack that loops through loopback processes one budget per clock turn, then stops when told', () => {
    const { stack, feed } = captureStack({ drainBudget: 64 });
    const clock = stack.clock as VirtualClock;
    const loop = selfLoop(stack);
    feed(dgram(1)); // returns: the loop did not run inline forever
    expect(loop.count()).toBe(1 + 64); // the packet itself, then one budget of loopback packets
    expect(stack.stats.stack.budgetYields).toBe(1);
    expect(stack.inputBacklog()).toBe(true); // a busy-polling driver stops reading now
    expect(clock.nextDeadline()).toBe(clock.now()); // the rest is due now, on the next turn
    // A timer due now runs within the next turn: the loop does not hold time or timers up.
    let timerRan = false;
    clock.after(0, () => (timerRan = true));
    for (let turn = 2; turn <= 10; turn++) {
      expect(clock.runNext()).toBe(true);
      expect(loop.count()).toBe(1 + 64 * turn);
    }
    expect(timerRan).toBe(true);
    expect(clock.now()).toBe(0);
    loop.stop();
    let turns = 0;
    while (clock.runNext()) turns++;
    expect(turns).toBeLessThanOrEqual(2);
    expect(clock.pendingTimers()).toBe(0);
    expect(stack.inputBacklog()).toBe(false);
    expect(stack.stats.stack.inputQueueDrops).toBe(0);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('the simulator steps through a looping stack one turn at a time', async () => {
    const { Simulator } = await import('../../src/sim/simulator.ts');
    const sim = new Simulator({ seed: 3 });
    const a = sim.addStack('a', { pool: { trackLive: true }, drainBudget: 16 });
    const b = sim.addStack('b', { pool: { trackLive: true } });
    sim.connect(a, b, { aAddr: '10.0.0.1', bAddr: '10.0.0.2' });
    const loop = selfLoop(a, '127.0.0.1');
    const q = a.pool.alloc(PbufLayer.TRANSPORT, 4, PbufType.RAM)!;
    q.take(new Uint8Array(4));
    a.ip.output(q, 0, addr('127.0.0.1'), PROTO);
    q.free();
    // Each step of the driver is one turn: the condition is checked between turns.
    let steps = 0;
    expect(sim.runUntil(() => (steps++, loop.count() >= 16 * 100), 1000)).toBe(true);
    expect(loop.count()).toBe(16 * 100);
    expect(steps).toBe(101);
    expect(sim.clock.now()).toBe(0);
    loop.stop();
    expect(sim.runUntilIdle(1000)).toBe(true);
    sim.close();
    a.pool.assertEmpty();
  });

  test('packets arriving while the stack has yielded queue behind the backlog: order kept', () => {
    const { stack, feed } = captureStack({ drainBudget: 4 });
    const clock = stack.clock as VirtualClock;
    const log: number[] = [];
    stack.ip.register(PROTO, (p) => {
      const tag = p.getAt(0);
      p.free();
      log.push(tag);
      if (tag === 1) for (let i = 10; i < 20; i++) feed(dgram(i));
    });
    feed(dgram(1));
    expect(log).toEqual([1, 10, 11, 12, 13]);
    feed(dgram(99)); // from the driver, between turns
    expect(log).toHaveLength(5);
    while (clock.runNext()) {
      /* turns */
    }
    expect(log).toEqual([1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 99]);
    expect(stack.stats.stack.budgetYields).toBe(2);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('a flood while the stack has yielded is shed at the input queue bound, counted, and freed', () => {
    const { stack, feed } = captureStack({ drainBudget: 2, inputQueueLimit: 8 });
    const clock = stack.clock as VirtualClock;
    let handled = 0;
    stack.ip.register(PROTO, (p) => {
      p.free();
      if (++handled === 1) for (let i = 0; i < 4; i++) feed(dgram(10 + i));
    });
    feed(dgram(1)); // handles 1, 10, 11; 12 and 13 wait
    expect(handled).toBe(3);
    for (let i = 0; i < 20; i++) feed(dgram(100 + i)); // 6 fit behind the 2 waiting
    expect(stack.stats.stack.inputQueueDrops).toBe(14);
    while (clock.runNext()) {
      /* turns */
    }
    expect(handled).toBe(3 + 2 + 6);
    stack.close();
    stack.pool.assertEmpty();
  });

  test('deferred work that keeps deferring more yields too', () => {
    const { stack } = captureStack({ drainBudget: 10 });
    const clock = stack.clock as VirtualClock;
    let n = 0;
    let go = true;
    const f = (): void => {
      n++;
      if (go) stack.defer(f);
    };
    stack.defer(f);
    expect(clock.runNext()).toBe(true);
    expect(n).toBe(10);
    expect(clock.runNext()).toBe(true);
    expect(n).toBe(20);
    go = false;
    while (clock.runNext()) {
      /* turns */
    }
    expect(n).toBe(21);
    expect(clock.pendingTimers()).toBe(0);
    stack.close();
  });

  test('drainBudget must be a positive integer', () => {
    expect(() => new Stack({ drainBudget: 0 })).toThrow(RangeError);
    expect(() => new Stack({ drainBudget: 2.5 })).toThrow(RangeError);
    expect(() => new Stack({ inputQueueLimit: -1 })).toThrow(RangeError);
  });

  test('a closed stack drops its continuation', () => {
    const { stack, feed } = captureStack({ drainBudget: 8 });
    const clock = stack.clock as VirtualClock;
    const loop = selfLoop(stack);
    feed(dgram(1));
    expect(loop.count()).toBe(9);
    stack.close();
    while (clock.runNext()) {
      /* the pending turn finds the stack closed */
    }
    expect(loop.count()).toBe(9);
    expect(clock.pendingTimers()).toBe(0);
    stack.pool.assertEmpty();
  });
});

describe('VirtualClock.soon', () => {
  test('a task runs on the next turn at the current instant; tasks it adds wait for the turn after', () => {
    const clock = new VirtualClock(100);
    const log: string[] = [];
    clock.soon(() => {
      log.push(`a@${clock.now()}`);
      clock.soon(() => log.push(`b@${clock.now()}`));
    });
    expect(log).toEqual([]);
    expect(clock.nextDeadline()).toBe(100);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.advanceTo(100)).toBe(1);
    expect(log).toEqual(['a@100']);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.runNext()).toBe(true);
    expect(log).toEqual(['a@100', 'b@100']);
    expect(clock.runNext()).toBe(false);
  });

  test('pending tasks run before timers at a later instant, and a throwing task loses none of the others', () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    clock.after(5, () => log.push(`timer@${clock.now()}`));
    clock.soon(() => log.push('first'));
    clock.soon(() => {
      throw new Error('boom');
    });
    clock.soon(() => log.push('third'));
    expect(() => clock.advanceTo(10)).toThrow('boom');
    expect(log).toEqual(['first']);
    clock.advanceTo(10);
    expect(log).toEqual(['first', 'third', 'timer@5']);
    expect(clock.now()).toBe(10);
  });
});

describe('bounded work per pass (real time)', () => {
  test("a stack looping through loopback leaves Node's event loop its turns and stops when told", async () => {
    const clock = new RealClock();
    const stack = new Stack({ clock, pool: { trackLive: true }, drainBudget: 32 });
    stack.addNetif({ name: 'cap0', addr: '10.0.0.1', prefixLength: 24, output: () => Err.OK });
    const loop = selfLoop(stack);
    const p = stack.pool.fromBytes(dgram(1))!;
    stack.input(p, stack.netifs[1]!);
    expect(loop.count()).toBe(33);
    // setImmediate and setTimeout callbacks run while the stack keeps looping.
    await new Promise((r) => setImmediate(r));
    const mid = loop.count();
    expect(mid).toBeGreaterThan(33);
    await new Promise((r) => setTimeout(r, 5));
    expect(loop.count()).toBeGreaterThan(mid);
    expect(stack.stats.stack.budgetYields).toBeGreaterThan(1);
    loop.stop();
    for (let i = 0; i < 100 && clock.pendingTimers() > 0; i++) await new Promise((r) => setImmediate(r));
    expect(clock.pendingTimers()).toBe(0);
    const end = loop.count();
    await new Promise((r) => setImmediate(r));
    expect(loop.count()).toBe(end);
    stack.close();
    clock.dispose();
    stack.pool.assertEmpty();
  });
});
