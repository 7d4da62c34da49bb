// `tsip/sim`: the deterministic simulator (stacks on one virtual clock,
// links built from seeded fault stages) and the pcap writer/reader.
export {
  Simulator,
  SimulationStallError,
  SimulationTimeoutError,
  type AddHostOptions,
  type AttachOptions,
  type ConnectOptions,
  type FrameObserver,
  type RunOptions,
  type SimEvent,
  type SimLink,
  type SimulatorOptions,
} from './simulator.ts';
export { DEFAULT_EPOCH_MS, type AppTimerInfo } from './app-time.ts';
export { Switch, SwitchPort, type SwitchOptions, type SwitchStats } from './switch.ts';
export { lan, lanAddr, lanAddr6, proxied, star, type LanOptions, type ProxiedOptions, type StarOptions } from './topology.ts';
export { HostTable } from '../stack/host-table.ts';
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
export { Trace, summarizeFrame, type TraceOptions } from './trace.ts';
export { shrinkSchedule, shrinkNumbers, ShrinkError, type ShrinkOptions, type ShrinkNumbersOptions, type ShrinkResult } from './shrink.ts';
export { runScenario, shrinkScenario, replayCommand, ScenarioFailure, type ScenarioOptions, type ScenarioContext, type ShrinkScenarioOptions } from './scenario.ts';
