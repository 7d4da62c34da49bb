// Builds the C programs of the anchor benchmarks with cc, into bench/.build
// (gitignored), when a binary is missing or older than its sources:
//
//   bench/clients/bulk-send.c  bulk-recv.c  pingpong.c  connrate.c
//                              the load generators, the same for every stack
//   bench/clients/kserver.c    echo/discard/chargen over kernel sockets
//   bench/lwip/lwip-tun.c      C lwIP (Debian's liblwip-dev) on a TUN device
//
// Throws an Error saying why when cc or liblwip-dev is missing or a build
// fails (the benchmark then skips, saying so).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = path.join(BENCH, '.build');

export const CLIENTS = ['bulk-send', 'bulk-recv', 'pingpong', 'connrate', 'kserver'] as const;
export type Program = (typeof CLIENTS)[number] | 'lwip-tun';

/** Where Debian's liblwip-dev puts lwIP's headers (its pkg-config Cflags: -I/usr/include/lwip). */
const LWIP_INCLUDE = '/usr/include/lwip';

const mtime = (f: string): number => statSync(f).mtimeMs;

function hasCc(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compile one program if it is missing or stale; returns its path. */
function build(dir: string, name: Program, sources: string[], extra: string[], log: (l: string) => void): string {
  const out = path.join(dir, name);
  const deps = [...sources, path.join(BENCH, 'clients', 'common.h'), fileURLToPath(import.meta.url)];
  if (existsSync(out) && deps.every((d) => mtime(d) <= mtime(out))) return out;
  log(`cc: building ${path.relative(process.cwd(), out)}`);
  try {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', out, ...sources, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`cc failed for ${name}: ${(err.stderr ?? err.message).trim().split('\n').slice(0, 6).join(' | ')}`);
  }
  return out;
}

/** Build everything (as needed) into `dir`; paths by program name. `werror`: warnings fail the build (the test's). */
export function buildAnchorPrograms(log: (l: string) => void = () => {}, dir = BUILD_DIR, werror = false): Record<Program, string> {
  if (!hasCc()) throw new Error('no C compiler (cc): apt-get install gcc libc6-dev, or bash scripts/ensure-system-deps.sh bench');
  if (!existsSync(path.join(LWIP_INCLUDE, 'lwip', 'tcp.h')) || !existsSync(path.join(LWIP_INCLUDE, 'lwipopts.h'))) {
    throw new Error('liblwip-dev is not installed (lwIP headers missing under /usr/include/lwip): apt-get install liblwip-dev, or bash scripts/ensure-system-deps.sh bench');
  }
  mkdirSync(dir, { recursive: true });
  const w = werror ? ['-Werror'] : [];
  const out = {} as Record<Program, string>;
  for (const c of CLIENTS) out[c] = build(dir, c, [path.join(BENCH, 'clients', `${c}.c`)], w, log);
  out['lwip-tun'] = build(dir, 'lwip-tun', [path.join(BENCH, 'lwip', 'lwip-tun.c')], [...w, `-I${LWIP_INCLUDE}`, '-llwip'], log);
  return out;
}
