// `tsip/sim`: the deterministic simulator (stacks on one virtual clock,
// links built from seeded fault stages) and the pcap writer/reader.
export { Simulator, type AddHostOptions, type ConnectOptions, type SimLink, type SimulatorOptions } from './simulator.ts';
export { applyFault, FAULT_KINDS, formatFaults, parseFaults, scheduleFaults, validateFaults, type FaultEvent, type FaultKind, type FaultScheduleHandle, type LinkControls, type LinkDirection } from './faults.ts';
export { SkewedClock } from '../time/skewed-clock.ts';
export {
  buildStages,
  CorruptStage,
  DuplicateStage,
  expectedLossRate,
  LatencyStage,
  LinkPipeline,
  LossStage,
  RateLimitStage,
  ReorderStage,
  TapStage,
  type BurstLossOptions,
  type CorruptOptions,
  type DuplicateOptions,
  type FrameSink,
  type LatencyOptions,
  type LinkSpec,
  type LinkStage,
  type LossOptions,
  type RateLimitOptions,
  type ReorderOptions,
  type StageContext,
  type TapCallback,
} from './link.ts';
export { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, readPcap, type PcapFile, type PcapRecord, type PcapWriterOptions } from './pcap.ts';
