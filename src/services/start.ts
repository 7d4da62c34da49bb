// startServices: the set `tsip up` runs on one stack, with the status page
// wired to it and each service's limits.
import type { Stack } from '../stack/stack.ts';
import { httpService, type HttpOptions } from './http.ts';
import type { ServeOptions, Service } from './serve.ts';
import { chargenService, discardService, echoService } from './simple.ts';
import { statusSource, type StatusOptions } from './status.ts';
import { udpEchoService } from './udp-echo.ts';

export interface Services {
  list: Service[];
  stop(): void;
}

/** startServices' options: the status page's (StatusOptions) and each service's limits. */
export interface ServicesOptions extends StatusOptions {
  echo?: ServeOptions;
  discard?: ServeOptions;
  chargen?: ServeOptions;
  http?: HttpOptions;
}

/**
 * echo :7 (TCP and UDP), discard :9, chargen :19 and HTTP :80 on `stack`.
 * The second argument is the options, or (as before) a function adding
 * sections to the status page.
 */
export function startServices(stack: Stack, options: ServicesOptions | (() => Record<string, unknown>) = {}): Services {
  const o: ServicesOptions = typeof options === 'function' ? { extra: options } : options;
  const list: Service[] = [];
  const source = statusSource(stack, () => list, o);
  const l = stack.sockets;
  list.push(echoService(l, 7, o.echo), discardService(l, 9, o.discard), chargenService(l, 19, o.chargen), httpService(l, source, 80, o.http), udpEchoService(l));
  return {
    list,
    stop() {
      for (const s of list) s.stop();
    },
  };
}
