// `tsip up` from the command line: its options (declared once: parser,
// checks and --help come from here) and the checks between options.
import { BadValue, choice, custom, defineCommand, flag, formatHelp, number, parseCommand, text, UsageError } from './args.ts';
import { delayOption, LINK_OPTIONS, linkSpecOf, mtuOption, pcapOption, seedOption } from './common-options.ts';
import { Progress } from './progress.ts';
import { addr6Problem, addrProblem, up, type UpOptions } from './up.ts';

/** The longest --duration: a year (timers are chained, so this is a sanity bound, not a timer limit). */
export const DURATION_MAX_S = 365 * 24 * 3600;

/** TCP ports the services listen on; the terminal cannot take them. */
export const SERVICE_PORTS = [7, 9, 19, 80] as const;

/** Namespace names as `ip netns add` and tsip's createNetns take them ("." and ".." are directories). */
const NETNS_RE = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,64}$/;
/** Linux interface names: 1 to 15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or white space, not "." or "..". */
const DEV_RE = /^(?!\.{1,2}$)[^\s/:]{1,15}$/;

/** An opt-in service's TCP port: any port but those the built-in services take. */
const servicePort = (description: string) =>
  custom({
    description,
    metavar: 'PORT',
    expects: `a TCP port from 1 to 65535 other than ${SERVICE_PORTS.join(', ')} (the services use them)`,
    defaultText: 'off',
    parse: (raw: string): number | undefined => {
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      return n >= 1 && n <= 65535 && !(SERVICE_PORTS as readonly number[]).includes(n) ? n : undefined;
    },
  });

export const UP = defineCommand({
  name: 'tsip up',
  usage: 'tsip up [options]',
  brief: 'tsip on a TUN device in its own network namespace, with services and a self-check',
  summary:
    'tsip on a Linux TUN device in a network namespace of its own, with its services (echo :7, discard :9, chargen :19, http :80 with /, /status.json and /bytes/N), a self-check from the kernel side, and clean-up on exit.',
  details: [
    'It needs root, /dev/net/tun and iproute2 (ip); without them it runs the same services in the simulator against a simulated client instead, and says why. npm start runs it after installing iproute2 where it can (bash scripts/ensure-system-deps.sh start).',
    "Link faults in user space, as tsip sim's (--delay, --rate, --loss, --dup, --reorder, --corrupt, seeded by --seed): both directions of tsip's TUN link pass through the simulator's fault stages, so a kernel client can be tested against a lossy, slow tsip peer without tc netem. Their counters are in /status.json under linkFaults. None given: no shaping at all.",
    "The self-check needs no other tool: tsip pings the kernel side with its own ICMP, and a Node child inside the namespace fetches /status.json and 1 MB of /bytes (sha256 checked). ping(8) from the kernel side runs too when it is installed; a check that cannot run is reported as 'skipped: why', not as a failure. The last self-check line is 'self-check passed' or 'self-check FAILED'.",
  ],
  options: {
    netns: text({ description: 'network namespace to create, use and delete', metavar: 'NAME', pattern: NETNS_RE, expects: "a namespace name: 1 to 64 letters, digits, '_', '.' or '-'", default: 'tsip' }),
    'no-netns': flag({ description: 'use the current namespace (real use: the device is visible to the host)' }),
    addr: custom({
      description: "tsip's address and prefix length; the kernel side gets the lowest other host address",
      metavar: 'A/P',
      expects: 'an IPv4 address with a prefix length from 1 to 30, such as 10.77.0.2/30',
      default: '10.77.0.2/30',
      parse: (raw: string): string => {
        const why = addrProblem(raw);
        if (why !== null) throw new BadValue(why);
        return raw;
      },
    }),
    addr6: custom({
      description: "tsip's IPv6 address and prefix length next to IPv4 (a unique-local /64 by default); the kernel side gets the lowest other address",
      metavar: 'A/P',
      expects: 'an IPv6 address with a prefix length from 64 to 126, such as fd00:7473::2/64',
      default: 'fd00:7473::2/64',
      parse: (raw: string): string => {
        const why = addr6Problem(raw);
        if (why !== null) throw new BadValue(why);
        return raw;
      },
    }),
    'no-ipv6': flag({ description: 'IPv4 only: no IPv6 address on the device (IPv6 is turned off on its kernel side)' }),
    mtu: mtuOption('device MTU'),
    offload: flag({ description: 'vnet header with checksum and TSO offload (64 KB segments both ways)' }),
    'no-tx-thread': flag({ description: 'write packets to the device from the JavaScript thread (by default a native thread fed through a shared ring writes them, and the kernel receive path that a TUN write runs runs beside JavaScript)' }),
    'no-rx-thread': flag({ description: 'read packets from the device on the JavaScript thread only (by default a native thread takes over reading into a shared ring while packets queue up, and hands it back when they come one at a time)' }),
    'no-gro': flag({ description: 'no receive coalescing: the receive thread hands every packet over as it came (by default it merges a run of in-order TCP segments of one connection into one packet of up to 64 KB, as GRO does)' }),
    'busy-poll': number({ description: 'busy polling: after packets come in, keep reading the device for US microseconds past the last one instead of sleeping (lower request/response latency for more CPU; as SO_BUSY_POLL)', metavar: 'US', min: 0, max: 1e6, unit: 'microseconds', defaultText: '0 (off)' }),
    'no-gso': flag({ description: 'no transmit segmentation: TCP sends MTU-sized segments (by default it sends 64 KB segments that the transmit thread cuts into MTU-sized packets, as TSO does)' }),
    dev: text({ description: 'TUN device name', metavar: 'NAME', pattern: DEV_RE, expects: "a device name of 1 to 15 characters (IFNAMSIZ) without '/', ':' or spaces", default: 'tsip0' }),
    pcap: pcapOption('capture every packet in and out to a pcap file (written on exit); it records what the stack sees, merged and 64 KB packets included, as tcpdump on a GRO/TSO interface (--no-gro --no-gso for wire-sized packets)'),
    duration: number({ description: 'serve for S seconds, then clean up and exit', metavar: 'S', min: 0, minExclusive: true, max: DURATION_MAX_S, maxNote: '365 days', unit: 'seconds', defaultText: 'until Ctrl-C' }),
    terminal: servicePort('serve a password-protected terminal on this TCP port (opt in: the REPL runs code)'),
    'terminal-password': text({ description: 'the terminal password (or env TSIP_TERMINAL_PASSWORD; required with --terminal)', metavar: 'PW', expects: 'a non-empty password' }),
    'terminal-mode': choice({ description: 'what the terminal serves: repl, a Node REPL; shell, line commands (help, echo, stats, conns)', metavar: 'MODE', values: ['repl', 'shell'], default: 'repl' }),
    iperf3: flag({ description: 'serve iperf3 tests (TCP; forward, -R, -P) to an unmodified iperf3 client on --iperf3-port' }),
    'iperf3-port': custom({
      description: 'the TCP port of --iperf3',
      metavar: 'PORT',
      expects: `a TCP port from 1 to 65535 other than ${SERVICE_PORTS.join(', ')} (the services use them)`,
      default: 5201,
      parse: (raw: string): number | undefined => {
        const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
        return n >= 1 && n <= 65535 && !(SERVICE_PORTS as readonly number[]).includes(n) ? n : undefined;
      },
    }),
    webrepl: servicePort('serve MicroPython-style WebREPL (WebSocket terminal and webrepl_cli.py file transfers) on this TCP port (opt in: the REPL runs code)'),
    'webrepl-password': text({ description: 'the WebREPL password (or env TSIP_WEBREPL_PASSWORD; required with --webrepl)', metavar: 'PW', expects: 'a non-empty password' }),
    'webrepl-root': text({ description: 'the directory WebREPL file transfers are confined to (none: file transfers are refused)', metavar: 'DIR', expects: 'a directory' }),
    'webrepl-mode': choice({ description: 'what the WebREPL terminal serves: repl or shell (as --terminal-mode)', metavar: 'MODE', values: ['repl', 'shell'], default: 'repl' }),
    ...LINK_OPTIONS,
    // A real wire has its own delay: none added unless asked for.
    delay: delayOption(0),
    seed: seedOption('the link faults (--loss, --dup, --reorder, --corrupt)'),
    simulate: flag({ description: 'run the services in the simulator, checked by a simulated client (ignores the TUN options and --duration)' }),
  },
  exits: ['0  the self-check passed (checks that could not run are reported as skipped)', '1  the self-check failed, or tsip could not start'],
});

/** The UpOptions for parsed options; option combinations that make no sense are usage errors. */
export function upOptionsOf(argv: string[], env: NodeJS.ProcessEnv = process.env): UpOptions | 'help' {
  const p = parseCommand(UP, argv);
  if (p.help) return 'help';
  const v = p.values;
  const usage = (detail: string): never => {
    throw new UsageError(UP.name, detail);
  };
  if (v['no-netns'] && p.given.has('netns')) usage('--netns and --no-netns exclude each other');
  if (v['no-ipv6'] && p.given.has('addr6')) usage('--addr6 and --no-ipv6 exclude each other');
  const ipv6 = !v['no-ipv6'] && v.mtu >= 1280;
  if (!v['no-ipv6'] && v.mtu < 1280 && p.given.has('addr6')) usage(`IPv6 needs an MTU of at least 1280 (RFC 8200), got --mtu ${v.mtu}; add --no-ipv6 or raise --mtu`);
  let terminal: UpOptions['terminal'];
  if (v.terminal !== undefined) {
    const password = v['terminal-password'] ?? env.TSIP_TERMINAL_PASSWORD ?? '';
    if (password === '') usage('--terminal needs a password: --terminal-password PW or env TSIP_TERMINAL_PASSWORD');
    terminal = { port: v.terminal, password, mode: v['terminal-mode'] as 'repl' | 'shell' };
  } else {
    for (const o of ['terminal-password', 'terminal-mode'] as const) if (p.given.has(o)) usage(`--${o} needs --terminal PORT`);
  }
  let webrepl: UpOptions['webrepl'];
  if (v.webrepl !== undefined) {
    const password = v['webrepl-password'] ?? env.TSIP_WEBREPL_PASSWORD ?? '';
    if (password === '') usage('--webrepl needs a password: --webrepl-password PW or env TSIP_WEBREPL_PASSWORD');
    if (v.webrepl === v.terminal) usage(`--webrepl and --terminal cannot share port ${v.webrepl}`);
    webrepl = { port: v.webrepl, password, mode: v['webrepl-mode'] as 'repl' | 'shell', ...(v['webrepl-root'] === undefined ? {} : { root: v['webrepl-root'] }) };
  } else {
    for (const o of ['webrepl-password', 'webrepl-root', 'webrepl-mode'] as const) if (p.given.has(o)) usage(`--${o} needs --webrepl PORT`);
  }
  let iperf3: UpOptions['iperf3'];
  if (v.iperf3) {
    const port = v['iperf3-port'];
    if (port === v.terminal || port === v.webrepl) usage(`--iperf3-port ${port} is taken by --terminal or --webrepl`);
    iperf3 = { port };
  } else if (p.given.has('iperf3-port')) {
    usage('--iperf3-port needs --iperf3');
  }
  const linkOpts = ['delay', 'rate', 'loss', 'dup', 'reorder', 'corrupt'] as const;
  const shaped = linkOpts.some((k) => p.given.has(k));
  if (!shaped && p.given.has('seed')) usage('--seed needs a link option (--delay, --rate, --loss, --dup, --reorder, --corrupt)');
  let faults: UpOptions['faults'];
  if (shaped) {
    const spec = linkSpecOf(v);
    if (!p.given.has('delay')) delete spec.latencyMs;
    faults = { spec, seed: v.seed };
  }
  return {
    netns: v['no-netns'] ? null : v.netns,
    addr: v.addr,
    addr6: ipv6 ? v.addr6 : null,
    mtu: v.mtu,
    offload: v.offload,
    ...(v['no-tx-thread'] ? { txThread: false } : {}),
    ...(v['no-rx-thread'] ? { rxThread: false } : {}),
    ...(v['no-gro'] ? { rxCoalesce: false } : {}),
    ...(v['no-gso'] ? { txSegmentation: false } : {}),
    ...(v['busy-poll'] === undefined ? {} : { busyPollUs: v['busy-poll'] }),
    dev: v.dev,
    ...(v.pcap === undefined ? {} : { pcap: v.pcap }),
    ...(v.duration === undefined ? {} : { duration: v.duration }),
    ...(terminal === undefined ? {} : { terminal }),
    ...(webrepl === undefined ? {} : { webrepl }),
    ...(iperf3 === undefined ? {} : { iperf3 }),
    ...(faults === undefined ? {} : { faults }),
    ...(v.simulate ? { simulate: true } : {}),
    log: (l) => console.log(l),
  };
}

/** `tsip up` from argv (after "up"); returns the exit status. */
export async function upCommand(argv: string[], print: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const o = upOptionsOf(argv);
  if (o === 'help') {
    print(formatHelp(UP));
    return 0;
  }
  const progress = Progress.forStderr();
  return up({ ...o, progress, log: (l) => (progress.clear(), print(l)) });
}
