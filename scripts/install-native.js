// npm's install hook: make sure tsip's TUN addon can load, without ever
// failing the install. Only opening a TUN device needs the addon; the
// simulator, sockets, node:net façade and services are plain JavaScript.
//   - not Linux: nothing to do;
//   - a prebuilt binary for this platform ships in prebuilds/ and loads:
//     done (no compiler needed);
//   - otherwise build native/tun with node-gyp; when that is impossible (no
//     python3/make/g++), say so in one paragraph and finish the install.
// REQUIRE_TUN=1 or TSIP_REQUIRE_NATIVE=1 (set by the project's CI) turns a
// failed build into a failed install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const strict = process.env.REQUIRE_TUN === '1' || process.env.TSIP_REQUIRE_NATIVE === '1';

function loads(file) {
  if (!existsSync(file)) return false;
  try {
    require(file);
    return true;
  } catch {
    return false;
  }
}

function libc() {
  return process.report?.getReport()?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

function main() {
  if (process.platform !== 'linux') return 0;
  if (process.env.TSIP_SKIP_NATIVE_BUILD === '1') return 0;
  const prebuilt = `${root}prebuilds/${process.platform}-${process.arch}/tsip_tun.${libc()}.node`;
  if (loads(prebuilt)) return 0;
  if (!existsSync(`${root}binding.gyp`)) return 0;
  // npm hands lifecycle scripts its own node-gyp; a checkout also has one in node_modules.
  const gyp = [process.env.npm_config_node_gyp, `${root}node_modules/node-gyp/bin/node-gyp.js`].find((f) => f && existsSync(f));
  const cmd = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
  const r = spawnSync(cmd[0], cmd[1], { cwd: root, encoding: 'utf8', stdio: strict ? 'inherit' : 'pipe' });
  if (r.status === 0 && loads(`${root}build/Release/tsip_tun.node`)) return 0;
  const why = (r.error?.message ?? `${r.stderr ?? ''}`.trim().split('\n').filter((l) => /error|not found|No such/i.test(l)).slice(-2).join(' | ')) || `node-gyp exited with ${r.status}`;
  console.warn(
    `tsip: no prebuilt TUN addon for ${process.platform}-${process.arch}-${libc()} and building it failed (${why}).\n` +
      'tsip: everything but TUN devices works without it. To use TUN devices, install python3, make and g++, then run `npm rebuild tsip`.',
  );
  return strict ? 1 : 0;
}

process.exitCode = main();
