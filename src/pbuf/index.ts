// `tsip/pbuf`: lwIP's packet buffers (header room per layer, chains,
// reference counts) and the pool that accounts every live pbuf and byte.
export { Pbuf, PbufError, PbufFlag, PbufType, type PbufCursor } from './pbuf.ts';
export { PbufLayer, PbufPool, PbufUse, type PbufPoolOptions, type PbufPoolStats } from './pool.ts';
