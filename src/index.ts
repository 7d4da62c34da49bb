// tsip: a userspace TCP/IP stack for Node.js, modelled on lwIP.
//
// The root entry point (`import { Stack, Simulator, ... } from 'tsip'`)
// gathers everything applications use. Focused entry points, one per layer
// a user reaches for (package.json "exports"; every name in docs/api.md):
//   tsip/raw       lwIP's raw TCP and UDP API        src/callbacks
//   tsip/socket    MicroPython-style sockets, poll   src/socket
//   tsip/net       node:net façade                   src/net
//   tsip/sim       simulator, link faults, pcap      src/sim
//   tsip/tun       Linux TUN device, netns helpers   src/netif
//   tsip/services  built-in services, terminal       src/services
//   tsip/wire      header views, checksums           src/wire
//   tsip/pbuf      packet buffers and their pool     src/pbuf
export { Stack, ReentrancyError, type AddNetifOptions, type StackOptions } from './stack/stack.ts';
export type { ProtoStats, Stats } from './stats.ts';
export * from './time/index.ts';
export { RealClock, type RealClockOptions } from './time/real-clock.ts';
export type { Ipv4, Ipv4Options } from './ip/ipv4.ts';
export type { Ipv6, Ipv6Options } from './ip/ipv6.ts';
export type { Icmp6, Icmp6Options } from './ip/icmp6.ts';
export type { Ip } from './ip/ip.ts';
export { IcmpErrorKind, type IpFamilyLayer } from './ip/host.ts';
export type { EchoReply, Icmp, IcmpErrorReport, IcmpOptions } from './ip/icmp.ts';
export { Pinger, type PingOptions, type PingResult } from './ip/ping.ts';
export type { IpInfo, ProtocolInput } from './ip/host.ts';
export * from './pbuf/index.ts';
export * as wire from './wire/index.ts';
export * from './callbacks/index.ts';
export * from './socket/index.ts';
export {
  isIP,
  isIPv4,
  isIPv6,
  Net,
  Server as NetServer,
  Socket as NetSocket,
  netError,
  type AcceptLoop,
  type AcceptLoopOptions,
  type AddressInfo,
  type ListenOptions,
  type NetError,
  type ServerOptions,
  type SocketOptions,
  type TcpConnectOptions,
} from './net/index.ts';
export * from './sim/index.ts';
export * from './netif/index.ts';
export * from './services/index.ts';
