// `tsip/raw`: lwIP's raw TCP and UDP APIs under lwIP's names, bound to one
// stack (`new RawTcp(stack)`, `new RawUdp(stack)`), with the types their
// callbacks see. The mapping and the callback contract: docs/raw-api.md.
export { RawTcp, TCP_WRITE_FLAG_COPY, TCP_WRITE_FLAG_MORE, WriteFlag, type RawHost } from './raw.ts';
export { RawUdp, type RawUdpHost } from './raw-udp.ts';
export { IP4_ADDR_ANY, IP6_ADDR_ANY, IP_ANY_TYPE } from './addr.ts';
export { formatIp, Ip6Addr, ipEq, parseIp, type IpAddr } from '../wire/ipaddr.ts';
export { Err, errName } from '../err.ts';
export type { AcceptFn, ConnectedFn, ErrFn, PcbCounters, PollFn, RecvFn, SentFn, TcpInfo, TcpPcb } from '../pcb/pcb.ts';
export { TCP_STATE_NAMES, TcpState } from '../pcb/state.ts';
export type { TcpConfig, TcpCounters } from '../pcb/tcp.ts';
export type { UdpErrFn, UdpPcb, UdpRecvFn } from '../udp/pcb.ts';
export type { UdpConfig, UdpCounters } from '../udp/udp.ts';
