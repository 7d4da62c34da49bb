// npm's prepack hook: put the TUN addon for this machine's platform into
// prebuilds/<platform>-<arch>/tsip_tun.<libc>.node, so the packed tarball
// installs and opens TUN devices without a compiler (scripts/install-native.js
// and src/netif/tun-addon.ts look there). Reuses build/Release when it is
// newer than the addon's sources, else builds it with node-gyp.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.platform !== 'linux') {
  console.warn(`tsip prebuild: skipped on ${process.platform} (the TUN addon is Linux-only); the package will build it on install`);
  process.exit(0);
}
const libc = process.report?.getReport()?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
const built = `${root}build/Release/tsip_tun.node`;
// Every source of the addon: tun.cc and the headers it includes (gro.h, gso.h).
const sources = [`${root}binding.gyp`, ...readdirSync(`${root}native/tun`).map((f) => `${root}native/tun/${f}`)];
const fresh = existsSync(built) && sources.every((s) => statSync(s).mtimeMs <= statSync(built).mtimeMs);
if (!fresh) {
  const gyp = [process.env.npm_config_node_gyp, `${root}node_modules/node-gyp/bin/node-gyp.js`].find((f) => f && existsSync(f));
  const r = gyp ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' }) : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('tsip prebuild: node-gyp rebuild failed; a package without the prebuilt TUN addon would need a compiler on every install');
    process.exit(1);
  }
}
createRequire(import.meta.url)(built); // it must load here before it ships
const dir = `${root}prebuilds/${process.platform}-${process.arch}`;
mkdirSync(dir, { recursive: true });
copyFileSync(built, `${dir}/tsip_tun.${libc}.node`);
console.log(`tsip prebuild: prebuilds/${process.platform}-${process.arch}/tsip_tun.${libc}.node`);
