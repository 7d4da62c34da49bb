export { Pbuf, PbufError, PbufFlag, PbufType, type PbufCursor } from './pbuf.ts';
export { PbufLayer, PbufPool, type PbufPoolOptions, type PbufPoolStats } from './pool.ts';
export { BlockAllocator } from './memory.ts';
