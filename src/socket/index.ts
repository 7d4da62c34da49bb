// `tsip/socket`: the socket module, shaped like MicroPython's `socket` +
// `select` (modlwip semantics), with sockets typed by their blocking mode.
export * from './constants.ts';
export { errno, errnoFromErr, errnoName, EWOULDBLOCK, isOSError, OSError } from './errors.ts';
export type { SocketCounters, SocketLayer, SocketLayerOptions } from './layer.ts';
export { Poller, type Pollable, type PollResult } from './poller.ts';
export { DatagramSocket, EMSGSIZE, type BlockingDatagramSocket, type DatagramCallback, type DatagramQueueOptions, type NonBlockingDatagramSocket } from './dgram.ts';
export { getaddrinfo, Socket, SockState, type AddrInfo, type AnySockAddr, type BlockingSocket, type NonBlockingSocket, type SockAddr, type SockAddr6, type SockAddrArg, type SocketCallback } from './socket.ts';
export type { ByMode, SocketMode, TimeoutMode } from './mode.ts';
export { DuptermSession, serveDupterm, type DuptermOptions, type SessionEnd, type TerminalHandler } from './dupterm.ts';
export { connectTcp, getsockerr, listenTcp, serverAccept, socketReader, waitPoll, writeIterable } from './async-helpers.ts';
export { CancelledError, create_task, EOFError, EventLoop, get_event_loop, open_connection, set_debug, sleep, sleep_ms, start_server, StreamReader, StreamWriter, Task, TimeoutError, wait_for, wait_for_ms, type ClientCallback, type Coro, type EventLoopOptions, type EventLoopStats, type LoopHost, type SysCall } from './uasyncio.ts';
