#!/usr/bin/env node
// The tsip command line: `tsip up`, `tsip sim ping|transfer`, `tsip bench
// compare`, `tsip help [COMMAND]`. Each command declares its options in its
// own module (see args.ts); this file only dispatches and turns a
// UsageError into one line on stderr and exit status 2.
import { defineCommand, EXIT_USAGE, formatCommandList, formatGroupHelp, showValue, UsageError } from './args.ts';
import { BENCH_COMPARE, BENCH_GROUP_SUMMARY, benchCommand } from './bench-compare.ts';
import { SIM_PING, simPingCommand } from './sim-ping.ts';
import { SIM_TRANSFER, simTransferCommand } from './sim-transfer.ts';
import { UP, upCommand } from './up-command.ts';

const SIM_SUMMARY = 'Deterministic scenarios between simulated stacks on virtual time; the same seed gives the same run, byte for byte.';

/** `tsip help`, for the overview's list (it has no options of its own). */
const HELP = defineCommand({ name: 'tsip help', usage: 'tsip help [COMMAND]', brief: 'this overview, or the help of COMMAND (tsip help sim transfer)', summary: '', options: {} });

const OVERVIEW = [
  'tsip — a userspace TCP/IP stack',
  '',
  'usage: tsip COMMAND [options]',
  '',
  'commands:',
  ...formatCommandList([UP, SIM_PING, SIM_TRANSFER, BENCH_COMPARE, HELP]),
  '',
  "Run 'tsip COMMAND --help' for a command's options, units, ranges and defaults.",
  'Benchmarks: npm run bench -- --help.',
  '',
  'exit status: 0 success, 1 the run failed, 2 usage error (one line on stderr)',
].join('\n');

function simCommand(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub === 'ping') return simPingCommand(rest);
  if (sub === 'transfer') return simTransferCommand(rest);
  if (sub === '-h' || sub === '--help') {
    console.log(formatGroupHelp('tsip sim', SIM_SUMMARY, [SIM_PING, SIM_TRANSFER]));
    return 0;
  }
  throw new UsageError('tsip sim', sub === undefined ? 'missing scenario: ping or transfer' : `unknown scenario ${showValue(sub)}: ping or transfer`);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up':
        return await upCommand(rest);
      case 'sim':
        return simCommand(rest);
      case 'bench':
        return benchCommand(rest);
      case 'help':
        // `tsip help sim transfer` is `tsip sim transfer --help`.
        if (rest.length > 0) return await main([...rest, '--help']);
        console.log(OVERVIEW);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        console.log(OVERVIEW);
        return 0;
      default:
        throw new UsageError('tsip', `unknown command ${showValue(cmd)}: up, sim, bench or help`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return EXIT_USAGE;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
