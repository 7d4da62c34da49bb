// `tsip/tun`: tsip on a real Linux TUN device, and the namespace/address
// helpers that keep test devices inside a network namespace. Only
// TunDevice.open() needs the native addon; importing this module does not.
export { TunDevice, TunError, VNET_HDR_LEN, type TunCounters, type TunHost, type TunOptions } from './tun.ts';
export { tunAddonStatus, type TunAddonStatus } from './tun-addon.ts';
export { configureTunLink, createNetns, deleteNetns, IpCommandError, netnsExists, tunAvailable, type TunLinkConfig } from './tun-ip.ts';
export { Netif, type LinkOutput, type NetifConfig, type NetifCounters } from './netif.ts';
