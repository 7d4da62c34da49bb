#!/usr/bin/env node
// The tsip command line: `tsip up`, `tsip sim ...`, `tsip bench compare`, `tsip help`.
import { parseArgs } from 'node:util';
import { BENCH_USAGE, benchCommand } from './bench-compare.ts';
import { runSimPing } from './sim-ping.ts';
import { SIM_TRANSFER_USAGE, simTransferCommand } from './sim-transfer.ts';
import { up, type UpOptions } from './up.ts';

const USAGE = `tsip — a userspace TCP/IP stack

usage:
  tsip up [options]               tsip on a TUN device in its own network namespace, with services
      --netns NAME    namespace to create and use (default tsip)
      --no-netns      use the current namespace (real use; the device is visible to the host)
      --addr A/P      tsip's address and prefix (default 10.77.0.2/30; the kernel side gets 10.77.0.1)
      --mtu N         device MTU (default 1500)
      --offload       vnet header with checksum and TSO offload (64 KB segments both ways)
      --dev NAME      TUN device name (default tsip0)
      --pcap FILE     capture every packet in and out
      --duration S    serve for S seconds, then clean up (default: until Ctrl-C)
      --terminal PORT serve a password-protected Node REPL on PORT (off by default: it runs code)
      --terminal-password PW   its password (or env TSIP_TERMINAL_PASSWORD; required with --terminal)
      --terminal-mode M        repl (default) or shell (line commands: help, echo, stats, conns)
      --simulate      run the same services in the simulator (a simulated client checks them)
      without root or /dev/net/tun it runs the simulator anyway and says so
  tsip sim ping [options]         ping between two simulated stacks over a faulty link
      --seed N        seed for every random choice (default 1)
      --count N       echo requests to send (default 10)
      --size N        echo data bytes (default 56)
      --interval MS   virtual ms between requests (default 1000)
      --latency MS    one-way link latency (default 1)
      --loss P        drop probability per packet, 0..1 (default 0)
      --dup P         duplication probability (default 0)
      --reorder P     reordering probability (default 0)
      --corrupt P     bit-corruption probability (default 0)
      --rate BPS      link rate in bit/s (default unlimited)
      --mtu N         link MTU (default 1500; smaller MTUs exercise fragmentation)
      --pcap FILE     write every packet sent to a pcap file (LINKTYPE_RAW)
      --quiet         only the summary
${SIM_TRANSFER_USAGE}
${BENCH_USAGE}
  tsip help
`;

function num(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${v}`);
  return n;
}

class UsageError extends Error {}

function simPing(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      count: { type: 'string' },
      size: { type: 'string' },
      interval: { type: 'string' },
      latency: { type: 'string' },
      loss: { type: 'string' },
      dup: { type: 'string' },
      reorder: { type: 'string' },
      corrupt: { type: 'string' },
      rate: { type: 'string' },
      mtu: { type: 'string' },
      pcap: { type: 'string' },
      quiet: { type: 'boolean' },
    },
    strict: true,
  });
  const seedRaw = values.seed ?? '1';
  const seed = /^\d+$/.test(seedRaw) ? Number(seedRaw) : seedRaw;
  const rate = values.rate === undefined ? undefined : num(values.rate, 'rate', 0);
  const outcome = runSimPing({
    seed,
    count: num(values.count, 'count', 10),
    size: num(values.size, 'size', 56),
    intervalMs: num(values.interval, 'interval', 1000),
    mtu: num(values.mtu, 'mtu', 1500),
    link: {
      latencyMs: num(values.latency, 'latency', 1),
      loss: num(values.loss, 'loss', 0),
      duplicate: num(values.dup, 'dup', 0),
      reorder: num(values.reorder, 'reorder', 0),
      corrupt: num(values.corrupt, 'corrupt', 0),
      ...(rate === undefined ? {} : { bitsPerSecond: rate }),
    },
    ...(values.pcap === undefined ? {} : { pcapFile: values.pcap }),
    verbose: !values.quiet,
    log: (l) => console.log(l),
  });
  if (!outcome.poolClean) {
    console.error('error: a simulated stack leaked pbufs');
    return 1;
  }
  return 0;
}

async function upCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      netns: { type: 'string' },
      'no-netns': { type: 'boolean' },
      addr: { type: 'string' },
      mtu: { type: 'string' },
      offload: { type: 'boolean' },
      dev: { type: 'string' },
      pcap: { type: 'string' },
      duration: { type: 'string' },
      simulate: { type: 'boolean' },
      terminal: { type: 'string' },
      'terminal-password': { type: 'string' },
      'terminal-mode': { type: 'string' },
    },
    strict: true,
  });
  let terminal: UpOptions['terminal'];
  if (values.terminal !== undefined) {
    const password = values['terminal-password'] ?? process.env.TSIP_TERMINAL_PASSWORD ?? '';
    if (password === '') throw new RangeError('--terminal needs a password: --terminal-password PW or env TSIP_TERMINAL_PASSWORD');
    const mode = values['terminal-mode'] ?? 'repl';
    if (mode !== 'repl' && mode !== 'shell') throw new RangeError(`--terminal-mode must be repl or shell, got ${mode}`);
    terminal = { port: num(values.terminal, 'terminal', 0), password, mode };
  }
  const duration = values.duration === undefined ? undefined : num(values.duration, 'duration', 0);
  return up({
    netns: values['no-netns'] ? null : (values.netns ?? 'tsip'),
    addr: values.addr ?? '10.77.0.2/30',
    mtu: num(values.mtu, 'mtu', 1500),
    offload: values.offload ?? false,
    dev: values.dev ?? 'tsip0',
    ...(values.pcap === undefined ? {} : { pcap: values.pcap }),
    ...(duration === undefined ? {} : { duration }),
    ...(terminal === undefined ? {} : { terminal }),
    ...(values.simulate ? { simulate: true } : {}),
    log: (l) => console.log(l),
  });
}

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up':
        return await upCommand(argv.slice(1));
      case 'sim':
        if (sub === 'ping') return simPing(rest);
        if (sub === 'transfer') return simTransferCommand(rest);
        throw new UsageError(`unknown sim scenario: ${sub ?? '(none)'}`);
      case 'bench':
        return benchCommand(argv.slice(1));
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command: ${cmd}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err) || err instanceof RangeError) {
      console.error(`tsip: ${err.message}\n`);
      console.error(USAGE);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
