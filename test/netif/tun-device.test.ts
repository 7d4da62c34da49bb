// The TUN device's error paths, each as a clear TunError with the errno:
// missing namespace, device busy, no permission, device removed while
// running; and a clean close. Every namespace is created and deleted here.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { TunDevice, TunError } from '../../src/netif/tun.ts';
import { createNetns, deleteNetns, ip, netnsExists } from '../../src/netif/tun-ip.ts';
import { Stack } from '../../src/stack/stack.ts';
import { RealClock } from '../../src/time/real-clock.ts';
import { skipReason, skipTun, waitFor } from '../support/tun.ts';

let n = 0;
const made: string[] = [];
function freshNs(): string {
  const ns = `tsipt-${process.pid}-d${++n}`;
  if (netnsExists(ns)) deleteNetns(ns);
  createNetns(ns);
  made.push(ns);
  return ns;
}

describe.skipIf(skipTun)('TUN device errors and lifecycle', () => {
  afterEach(() => {
    for (const ns of made.splice(0)) {
      if (netnsExists(ns)) deleteNetns(ns);
      expect(netnsExists(ns)).toBe(false);
    }
  });

  test('a namespace that does not exist: TunError saying so', () => {
    const e = (() => {
      try {
        TunDevice.open({ name: 'tsip0', netns: `tsipt-${process.pid}-missing` });
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(TunError);
    expect((e as TunError).message).toMatch(/namespace .* does not exist/);
  });

  test('the same device opened twice: the second open fails with EBUSY, explained', () => {
    const ns = freshNs();
    const a = TunDevice.open({ name: 'tsipbusy', netns: ns });
    try {
      let err: unknown = null;
      try {
        TunDevice.open({ name: 'tsipbusy', netns: ns }).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TunError);
      expect((err as TunError).errno).toBe(16);
      expect((err as TunError).message).toMatch(/busy/);
    } finally {
      a.close();
    }
  });

  test('without CAP_NET_ADMIN (a child process with the capability dropped): TunError "no permission"', () => {
    const ns = freshNs();
    const script = `
      import { TunDevice } from './src/netif/tun.ts';
      try { TunDevice.open({ name: 'tsipperm', netns: '${ns}' }); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, errno: e.errno, message: e.message })); }`;
    // Drop CAP_NET_ADMIN and CAP_SYS_ADMIN (setns) from every set; still root otherwise.
    const r = spawnSync('capsh', ['--drop=cap_net_admin,cap_sys_admin', '--', '-c', `exec node --import tsx --input-type=module -e "$0"`, script], { encoding: 'utf8', timeout: 30_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(line, r.stderr).not.toBe('opened');
    const res = JSON.parse(line) as { name: string; errno: number; message: string };
    expect(res.name).toBe('TunError');
    expect([1, 13]).toContain(res.errno);
    expect(res.message).toMatch(/no permission/);
  }, 40_000);

  // Receive on the JavaScript thread, through the receive thread always, and by default (the thread engages under load).
  for (const [tag, rx] of [
    ['rx inline', { rxThread: false }],
    ['rx thread', { rxThread: true, rxThreadEngage: 0 }],
    ['rx default', {}],
  ] as const) {
    test(`the device removed while running: onError gets a TunError, the link goes down, output fails cleanly (${tag})`, async () => {
      const ns = freshNs();
      const clock = new RealClock();
      const stack = new Stack({ clock, name: 'tunerr' });
      const errors: TunError[] = [];
      const dev = TunDevice.open({ name: 'tsipgone', netns: ns, onError: (e) => errors.push(e), ...rx });
      try {
        const netif = dev.attach(stack, { addr: '10.88.250.2', prefixLength: 30, mtu: 1500 });
        ip(['link', 'set', 'tsipgone', 'up'], ns);
        ip(['link', 'del', 'tsipgone'], ns);
        expect(await waitFor(() => errors.length > 0, 3000)).toBe(true);
        expect(errors[0]).toBeInstanceOf(TunError);
        expect(errors[0]!.message).toMatch(/tsipgone failed/);
        expect(dev.isClosed).toBe(true);
        expect(netif.linkUp).toBe(false);
        // Sending now is a counted error, not a crash.
        expect(stack.ping('10.88.250.1', 1, 1, new Uint8Array(8))).not.toBe(0);
      } finally {
        dev.close();
        stack.close();
        clock.dispose();
      }
      stack.pool.assertEmpty();
    });
  }

  test('close is idempotent and releases the device name for reuse', () => {
    const ns = freshNs();
    const a = TunDevice.open({ name: 'tsipreuse', netns: ns });
    a.close();
    a.close();
    expect(a.isClosed).toBe(true);
    const b = TunDevice.open({ name: 'tsipreuse', netns: ns });
    expect(b.name).toBe('tsipreuse');
    b.close();
  });
});

if (skipTun) test.skip(skipReason, () => {});
