// Finds and loads tsip's TUN addon (native/tun/tun.cc), the only native
// code in the package. Looked for, in order:
//   1. TSIP_TUN_ADDON=/path/to/tsip_tun.node: an explicit choice, the only
//      file tried when set;
//   2. build/Release/tsip_tun.node: a local build (`npm rebuild tsip`, or
//      `npm ci` in a checkout), so a developer's changes win over the
//      shipped binary;
//   3. prebuilds/<platform>-<arch>/tsip_tun.<libc>.node: the binary that
//      ships inside the package (built by `npm pack`, scripts/prebuild.js).
// It is loaded lazily, when a TUN device is first opened: the simulator,
// sockets, node:net façade and services never need it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The package root: this file is src/netif/ (sources) or dist/netif/ (built). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the addon comes from and whether it loaded. */
export interface TunAddonStatus {
  ok: boolean;
  /** The file that loaded, when ok. */
  path?: string;
  /** platform-arch(-libc), e.g. linux-x64-glibc. */
  platform: string;
  /** Why it is unavailable and how to fix it, when not ok. */
  why?: string;
}

/** Is this Node on glibc or musl? (prebuilt binaries are per C library) */
function libc(): 'glibc' | 'musl' {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

function platformTag(): string {
  const base = `${process.platform}-${process.arch}`;
  return process.platform === 'linux' ? `${base}-${libc()}` : base;
}

/** The candidate files, in the order they are tried. */
export function tunAddonCandidates(): string[] {
  const override = process.env.TSIP_TUN_ADDON;
  if (override) return [override]; // explicit: nothing else is tried
  const out: string[] = [];
  out.push(`${PACKAGE_ROOT}build/Release/tsip_tun.node`);
  if (process.platform === 'linux') out.push(`${PACKAGE_ROOT}prebuilds/${process.platform}-${process.arch}/tsip_tun.${libc()}.node`);
  return out;
}

let cached: { addon: unknown; status: TunAddonStatus } | null = null;

/** Load the addon (once); `addon` is null when it is unavailable, `status.why` says why. */
export function loadTunAddonModule(): { addon: unknown; status: TunAddonStatus } {
  if (cached !== null) return cached;
  const platform = platformTag();
  if (process.platform !== 'linux') {
    cached = {
      addon: null,
      status: { ok: false, platform, why: `TUN devices need Linux; this is ${platform}. The simulator, sockets, node:net façade and services work here without the addon.` },
    };
    return cached;
  }
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const file of tunAddonCandidates()) {
    if (!existsSync(file)) continue;
    try {
      const addon = require(file) as { TunDevice?: unknown } | null;
      if (typeof addon?.TunDevice !== 'function') throw new Error('not tsip\'s TUN addon (it exports no TunDevice)');
      cached = { addon, status: { ok: true, path: file, platform } };
      return cached;
    } catch (e) {
      failures.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const tried =
    failures.length > 0
      ? `it failed to load (${failures.join('; ')})`
      : process.env.TSIP_TUN_ADDON
        ? `TSIP_TUN_ADDON names ${process.env.TSIP_TUN_ADDON}, which does not exist`
        : `no prebuilt binary ships for ${platform} and there is no local build`;
  cached = {
    addon: null,
    status: {
      ok: false,
      platform,
      why:
        `tsip's TUN addon is not available on ${platform}: ${tried}. ` +
        'Fix: install a C++ toolchain (Debian: apt-get install python3 make g++), then run `npm rebuild tsip` ' +
        '(in a checkout: `npm ci`), which builds native/tun with node-gyp; or point TSIP_TUN_ADDON at a built tsip_tun.node.',
    },
  };
  return cached;
}

/** Whether a TUN device can be opened by this package here (the addon only; root and /dev/net/tun are separate). */
export function tunAddonStatus(): TunAddonStatus {
  return loadTunAddonModule().status;
}
