// `tsip/services`: tsip's built-in services, as `tsip up` runs them (echo,
// discard, chargen, HTTP with a live status page, UDP echo), and the opt-in
// password-protected terminal and WebREPL (a WebSocket terminal with file transfers), and an opt-in iperf3 server. Their limits and the status page: docs/services.md.
export { generatedBody, httpService, type HttpOptions, type StatusSource } from './http.ts';
export { chargenService, discardService, echoService } from './simple.ts';
export { IPERF3_DEFAULTS, iperf3Service, type Iperf3Counters, type Iperf3Options, type Iperf3Result, type Iperf3Service } from './iperf3.ts';
export { IPERF3_PORT, Iperf3Errno, Iperf3State, type Iperf3Params } from './iperf3-wire.ts';
export { serve, type Handler, type ServeOptions, type Service, type ServiceCounters } from './serve.ts';
export type { ServiceLimits } from './limits.ts';
export type { ConnectionVisibility, StatusOptions } from './status.ts';
export { startServices, type Services, type ServicesOptions } from './start.ts';
export { udpEchoService } from './udp-echo.ts';
export {
  resolveInRoot,
  WEBREPL_DEFAULT_LIMITS,
  WEBREPL_GET_FILE,
  WEBREPL_GET_VER,
  WEBREPL_HEADER_BYTES,
  WEBREPL_PUT_FILE,
  WEBREPL_STATUS,
  webreplService,
  type WebReplCommand,
  type WebReplCounters,
  type WebReplOptions,
  type WebReplService,
  type WebReplSession,
} from './webrepl.ts';
export {
  acceptWebSocket,
  WEBSOCKET_GUID,
  WebSocket,
  websocketAccept,
  WS_CLOSE,
  type HandshakeResult,
  type WebSocketMessage,
  type WebSocketOptions,
} from './websocket.ts';
export { startRepl, startShell, type ShellSession } from './terminal.ts';
export { startTerminal, type ShellCommand, type TerminalCounters, type TerminalMode, type TerminalOptions, type TerminalService, type TerminalSession } from './terminal.ts';
