/**
 * Runs a simulation in slices of simulated time, so a caller can show progress and let its event
 * loop breathe between slices. The caller passes the wall clock: the simulator itself never reads
 * one.
 */
import type { Scenario } from './scenario';
import { Simulation, type SimObserver, type SimResult } from './simulator';

export interface RunOptions {
  /** Wall-clock milliseconds (performance.now in a CLI); only used to time the run. */
  readonly clock: () => number;
  /** Called after each slice with simulated milliseconds done and in total. */
  readonly onProgress?: (doneMs: number, totalMs: number) => void;
  /** Awaited between slices (for example a setImmediate), so timers and output can run. */
  readonly pause?: () => Promise<void>;
  /** Simulated milliseconds per slice. */
  readonly sliceMs?: number;
  readonly observer?: SimObserver;
}

export interface RunOutcome {
  readonly result: SimResult;
  readonly wallS: number;
  /** Simulated seconds per wall second. */
  readonly speed: number;
}

export async function runScenario(scenario: Scenario, seed: number, options: RunOptions): Promise<RunOutcome> {
  const started = options.clock();
  const sim = new Simulation(scenario, seed, options.observer);
  const slice = options.sliceMs ?? 5_000;
  while (!sim.done) {
    sim.runUntil(sim.now + slice);
    options.onProgress?.(sim.now, sim.durationMs);
    if (options.pause) await options.pause();
  }
  const result = sim.result();
  const wallS = (options.clock() - started) / 1_000;
  return { result, wallS, speed: wallS > 0 ? result.simulatedS / wallS : Infinity };
}
