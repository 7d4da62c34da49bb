// What each file in examples/ prints: the examples test (from the sources)
// and the package test (from the installed tarball) both check it.
export interface ExampleSpec {
  args?: string[];
  /** Whole stdout, anchored. */
  stdout: RegExp;
  /** Opens a TUN device: needs root and /dev/net/tun. */
  needsTun?: boolean;
}

export const EXAMPLE_OUTPUT: Record<string, ExampleSpec> = {
  'sim-echo.js': { stdout: /^hello over a lossy link\nvirtual time: \d+ ms\n$/ },
  'socket-echo.js': { stdout: /^client: connected \(poll flags 4\)\nserver: connection from 10\.0\.0\.1:\d+\nclient: got "hello tsip\\n"\n$/ },
  'socket-blocking.js': { stdout: /^you said: ping over a lossy link\n$/ },
  'raw-echo.js': { stdout: /^echoed: raw API says hi\npbufs in use: 0\n$/ },
  'net-http-sim.js': { stdout: /^200 hello 10\.0\.0\.1, you asked for \/index\.html\nvirtual time: \d+ ms\n$/ },
  'sim-retry-clock.js': { stdout: /^attempt 1 at 10 ms: ECONNREFUSED\nattempt 2 at 1020 ms: ECONNREFUSED\nattempt 3 at 2030 ms: ECONNREFUSED\nattempt 4 at 3040 ms: ECONNREFUSED\nattempt 5 at 4050 ms: ECONNREFUSED\nattempt 6 at 5070 ms: hello\n$/ },
  'ping-sim.js': { stdout: /^seed 7: 10 sent, \d+ received, rtt \d+\.\.\d+ ms\npcap: \d+ packets in \S+\.pcap\n$/ },
  'net-http-tun.js': { args: ['0'], stdout: /^kernel got: hello from tsip, 10\.77\.0\.1\n$/, needsTun: true },
};
