// The UDP engine (RFC 768): PCBs, demux, input, output.
export { Udp, type UdpConfig, type UdpCounters, type UdpHost } from './udp.ts';
export { UdpPcb, UdpSockOpt, type UdpErrFn, type UdpRecvFn } from './pcb.ts';
export { UdpTable } from './table.ts';
export { UDP_MAX_PAYLOAD } from './output.ts';
