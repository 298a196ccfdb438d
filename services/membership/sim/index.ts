/** The simulator's public surface, for the CLI, the benchmark and the multi-node tests. */
export { EventHeap, WakeHeap } from './event-queue';
export { latencySampler, type LatencySpec } from './latency';
export { renderReportSvg, reportHtml, reportJson, reportSpec, type ReportJson } from './report';
export { runScenario, type RunOptions, type RunOutcome } from './runner';
export {
  BUILTIN_SCENARIOS,
  builtinScenario,
  parseScenario,
  settledAtS,
  ScenarioError,
  type Scenario,
  type ScenarioInput,
  type TimelineEvent,
} from './scenario';
export { forgedSimRecord, simRecord, verifySimRecord, type SimRecordBlob } from './sim-records';
export { quantile, simulate, Simulation, type SimFigures, type SimNode, type SimResult } from './simulator';
