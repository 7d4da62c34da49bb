// tsip's public surface. Layers are importable on their own too
// (tsip/src/<layer>/...); this file gathers what applications use.
export { Err, errName } from './err.ts';
export { newStats, type ProtoStats, type Stats } from './stats.ts';
export * from './pbuf/index.ts';
export * from './time/index.ts';
export { RealClock, type RealClockOptions } from './time/real-clock.ts';
export * as wire from './wire/index.ts';
export { Netif, type LinkOutput, type NetifConfig } from './netif/netif.ts';
export { Ipv4, type Ipv4Options } from './ip/ipv4.ts';
export { Icmp, type EchoReply, type IcmpErrorReport, type IcmpOptions } from './ip/icmp.ts';
export { Pinger, type PingOptions, type PingResult } from './ip/ping.ts';
export type { IpInfo, ProtocolInput } from './ip/host.ts';
export { Stack, ReentrancyError, type AddNetifOptions, type StackOptions } from './stack/stack.ts';
export { Simulator, type ConnectOptions, type SimLink, type SimulatorOptions } from './sim/simulator.ts';
export { buildStages, LinkPipeline, type LinkSpec, type LinkStage } from './sim/link.ts';
export { PcapWriter, readPcap } from './sim/pcap.ts';
export { Net, Server as NetServer, Socket as NetSocket, netError, type AcceptLoop, type AcceptLoopOptions, type AddressInfo, type ListenOptions, type NetError, type ServerOptions, type SocketOptions, type TcpConnectOptions } from './net/index.ts';
export * from './udp/index.ts';
export { RawUdp, type RawUdpHost } from './callbacks/raw-udp.ts';
