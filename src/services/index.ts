// `tsip/services`: tsip's built-in services, as `tsip up` runs them (echo,
// discard, chargen, HTTP with a live status page, UDP echo), and the opt-in
// password-protected terminal. Their limits and the status page: docs/services.md.
export { generatedBody, httpService, type HttpOptions, type StatusSource } from './http.ts';
export { chargenService, discardService, echoService } from './simple.ts';
export { serve, type Handler, type ServeOptions, type Service, type ServiceCounters } from './serve.ts';
export type { ServiceLimits } from './limits.ts';
export type { ConnectionVisibility, StatusOptions } from './status.ts';
export { startServices, type Services, type ServicesOptions } from './start.ts';
export { udpEchoService } from './udp-echo.ts';
export { startTerminal, type ShellCommand, type TerminalCounters, type TerminalMode, type TerminalOptions, type TerminalService, type TerminalSession } from './terminal.ts';
