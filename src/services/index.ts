// `tsip/services`: tsip's built-in services, as `tsip up` runs them (echo,
// discard, chargen, HTTP with a live status page, UDP echo), and the opt-in
// password-protected terminal.
import type { Stack } from '../stack/stack.ts';
import { connectionRows, httpService, type StatusSource } from './http.ts';
import type { Service } from './serve.ts';
import { chargenService, discardService, echoService } from './simple.ts';
import { udpEchoService } from './udp-echo.ts';

export { generatedBody, httpService, type StatusSource } from './http.ts';
export { chargenService, discardService, echoService } from './simple.ts';
export { serve, type Handler, type Service, type ServiceCounters } from './serve.ts';
export { udpEchoService } from './udp-echo.ts';
export { startTerminal, type ShellCommand, type TerminalCounters, type TerminalMode, type TerminalOptions, type TerminalService, type TerminalSession } from './terminal.ts';

export interface Services {
  list: Service[];
  stop(): void;
}

/** echo :7 (TCP and UDP), discard :9, chargen :19 and HTTP :80 on `stack`; `extra` adds to the status page. */
export function startServices(stack: Stack, extra: () => Record<string, unknown> = () => ({})): Services {
  const list: Service[] = [];
  const source: StatusSource = {
    status: () => ({
      services: Object.fromEntries(list.map((s) => [`${s.name}:${s.port}`, { ...s.counters }])),
      ...extra(),
      ip: stack.stats.ip,
      icmp: stack.stats.icmp,
      tcp: { ...stack.stats.tcp, ...stack.tcp.counters, pcbs: stack.tcp.pcbCount },
      udp: { ...stack.stats.udp, ...stack.udp.counters, pcbs: stack.udp.pcbCount },
      sockets: { open: stack.sockets.open, ...stack.sockets.counters },
      pool: { ...stack.pool.stats },
      connections: connectionRows(stack.tcp.connections()),
    }),
  };
  list.push(echoService(stack.sockets), discardService(stack.sockets), chargenService(stack.sockets), httpService(stack.sockets, source), udpEchoService(stack.sockets));
  return {
    list,
    stop() {
      for (const s of list) s.stop();
    },
  };
}
