// Configuring TUN devices and network namespaces with iproute2's `ip`.
// Every helper runs `ip` synchronously and throws an IpCommandError that
// carries the command and what `ip` said.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tunAddonStatus } from './tun-addon.ts';

export class IpCommandError extends Error {
  override name = 'IpCommandError';
  constructor(
    readonly argv: readonly string[],
    readonly stderr: string,
    readonly status: number | null,
  ) {
    super(`${argv.join(' ')} failed${status === null ? '' : ` (exit ${status})`}: ${stderr.trim() || 'no output'}`);
  }
}

/** Run a command (in `netns` when given); returns stdout. */
export function run(argv: readonly string[], netns?: string): string {
  const full = netns ? ['ip', 'netns', 'exec', netns, ...argv] : [...argv];
  try {
    return execFileSync(full[0]!, full.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer | string; status?: number | null };
    throw new IpCommandError(full, String(err.stderr ?? ''), err.status ?? null);
  }
}

/** `ip ARGS` (in `netns` when given). */
export function ip(args: readonly string[], netns?: string): string {
  return run(['ip', ...args], netns);
}

/** The path setns() needs for a named namespace. */
export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Create a named network namespace with its loopback up. */
export function createNetns(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new RangeError(`bad namespace name: ${name}`);
  ip(['netns', 'add', name]);
  ip(['link', 'set', 'lo', 'up'], name);
}

/** Delete a namespace (its devices go with it). Quiet if it is already gone. */
export function deleteNetns(name: string): void {
  if (!netnsExists(name)) return;
  ip(['netns', 'del', name]);
}

export interface TunLinkConfig {
  dev: string;
  /** The kernel's address on the device, with prefix, e.g. '10.77.0.1/30'. */
  address?: string;
  /**
   * The kernel's IPv6 address with prefix, e.g. 'fd00:77::1/64'. With it,
   * IPv6 stays on for the device (DAD and router solicitations off: the
   * link is point-to-point); without it IPv6 is turned off on the device.
   */
  address6?: string;
  mtu?: number;
  /** Raise the device queue: the default 500 drops bursts. */
  txqueuelen?: number;
  netns?: string;
}

/**
 * Give the kernel side of a TUN device its address(es), MTU and queue
 * length and bring it up. Without an IPv6 address IPv6 is turned off on the
 * device (the kernel would otherwise chatter router solicitations into it);
 * with one, duplicate address detection and router solicitations are off
 * (a point-to-point link to tsip, which does no neighbour discovery).
 */
export function configureTunLink(c: TunLinkConfig): void {
  if (c.address === undefined && c.address6 === undefined) throw new RangeError('configureTunLink: give an address, an address6 or both');
  const sysctl = (k: string, v: string): void => {
    try {
      run(['sysctl', '-q', '-w', `net.ipv6.conf.${c.dev}.${k}=${v}`], c.netns);
    } catch {
      // Not fatal: tsip counts and drops what it does not want.
    }
  };
  if (c.address6 === undefined) sysctl('disable_ipv6', '1');
  else {
    sysctl('disable_ipv6', '0');
    sysctl('accept_dad', '0');
    sysctl('router_solicitations', '0');
    sysctl('accept_ra', '0');
  }
  if (c.address !== undefined) ip(['addr', 'add', c.address, 'dev', c.dev], c.netns);
  if (c.address6 !== undefined) ip(['-6', 'addr', 'add', c.address6, 'dev', c.dev, 'nodad'], c.netns);
  const link = ['link', 'set', 'dev', c.dev, 'up'];
  if (c.mtu !== undefined) link.push('mtu', String(c.mtu));
  link.push('txqueuelen', String(c.txqueuelen ?? 10000));
  ip(link, c.netns);
}

/** Can this process create TUN devices and namespaces here? (Linux, root, /dev/net/tun, ip, and tsip's addon) */
export function tunAvailable(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `not Linux (${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, why: 'not root (TUN devices and namespaces need CAP_NET_ADMIN)' };
  if (!existsSync('/dev/net/tun')) return { ok: false, why: '/dev/net/tun is missing' };
  try {
    run(['ip', '-V']);
  } catch {
    return { ok: false, why: 'iproute2 (ip) is not installed' };
  }
  const addon = tunAddonStatus();
  if (!addon.ok) return { ok: false, why: addon.why ?? 'the TUN addon is not available' };
  return { ok: true, why: '' };
}
