/**
 * `npm run bench:sim`: the membership protocol in the simulator at N = 1,000 and N = 10,000.
 *
 *   1. 1% of nodes crash at once: seconds until every active neighbour declared each dead.
 *   2. Lifeguard's scenario for one simulated hour (1% loss, 10% slow nodes): false deaths per
 *      1,000 node-hours, Lifeguard on and off (the same seed, so the same faults).
 *   3. 80% of nodes crash at once: 30 s later, the survivors' largest component and flood reach.
 *   4. A stable network: flood reach, duplicates, bytes per node per second, view sizes.
 *   5. Speed: simulated seconds per wall second at N = 10,000 on one core (one process).
 *
 * Each run is a fresh child process; two run at a time (the machine has two cores). Figures are
 * medians over seeds where a run is cheap. The last line is one JSON object.
 *
 * Options: --quick (smaller and shorter: a smoke test of the bench itself, not its figures);
 * --speed (only the speed window, at 300, 1,000 and 10,000 nodes, three runs each, alone: where
 * the time of an event goes as the network outgrows the processor's caches).
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { builtinScenario, settledAtS } from '../../services/membership/sim/scenario';
import { Simulation, type SimFigures } from '../../services/membership/sim/simulator';

interface Task {
  readonly scenario: 'crash-1pct' | 'crash-80pct' | 'lifeguard' | 'stable';
  readonly nodes: number;
  readonly seed: number;
  readonly lifeguard?: boolean;
  /** Shortens the lifeguard hour (--quick only). */
  readonly hourS?: number;
  /** Stops after the speed window (--speed). */
  readonly speedOnly?: boolean;
}

interface TaskResult {
  readonly task: Task;
  readonly figures: SimFigures;
  readonly wallS: number;
  readonly simulatedS: number;
  /** Simulated s per wall s over the settled part of the run (after joins and warm-up). */
  readonly steadySpeed: number;
  /** Events (timer runs and deliveries) and wall milliseconds in that window. */
  readonly steadyEvents: number;
  readonly steadyWallMs: number;
  readonly simulatedWindowS: number;
  readonly activeViewSize: number;
}

// ---- child: one run ---------------------------------------------------------------------------

function runTask(task: Task): TaskResult {
  let scenario = builtinScenario(task.scenario, { nodes: task.nodes, lifeguard: task.lifeguard });
  if (task.scenario === 'lifeguard' && task.hourS !== undefined) {
    scenario = { ...scenario, durationS: settledAtS(task.nodes) + task.hourS };
  }
  // The benchmark reads figures, not plots: sample coarsely and skip per-sample components.
  scenario = { ...scenario, sampleEveryS: Math.max(scenario.sampleEveryS, 5), componentEverySample: false };
  // --speed times as many events at every size as 30 s take at 10,000 nodes, with no floods.
  const windowMs = task.speedOnly ? Math.max(30, (30 * 10_000) / task.nodes) * 1_000 : 30_000;
  if (task.speedOnly) scenario = { ...scenario, events: [], durationS: settledAtS(task.nodes) + windowMs / 1_000 };
  const started = performance.now();
  const sim = new Simulation(scenario, task.seed);
  const settled = settledAtS(task.nodes) * 1_000;
  sim.runUntil(settled);
  // Speed over settled seconds (30; more at small sizes under --speed) before any flood or fault.
  const steadyStart = performance.now();
  const eventsBefore = sim.eventsProcessed;
  const steadyEnd = Math.min(sim.durationMs, settled + windowMs);
  sim.runUntil(steadyEnd);
  const steadyWallMs = performance.now() - steadyStart;
  const steadyEvents = sim.eventsProcessed - eventsBefore;
  if (!task.speedOnly) sim.runUntil(sim.durationMs);
  const ended = performance.now();
  const result = sim.result();
  return {
    task,
    figures: result.figures,
    wallS: (ended - started) / 1_000,
    simulatedS: result.simulatedS,
    steadySpeed: (steadyEnd - settled) / steadyWallMs,
    steadyEvents,
    steadyWallMs,
    simulatedWindowS: (steadyEnd - settled) / 1_000,
    activeViewSize: result.config.activeViewSize,
  };
}

if (process.argv[2] === '--child') {
  const task = JSON.parse(process.argv[3]) as Task;
  process.stdout.write(`${JSON.stringify(runTask(task))}\n`);
  process.exit(0);
}

// ---- parent: schedule, collect, print ---------------------------------------------------------

function runChild(task: Task): Promise<TaskResult> {
  return new Promise((resolve, reject) => {
    // A larger young generation: the simulator allocates millions of short-lived messages, and
    // promoting them costs more than collecting them young.
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=64', ...process.execArgv, __filename, '--child', JSON.stringify(task)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`run ${JSON.stringify(task)} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop() as string) as TaskResult);
    });
  });
}

async function pool(tasks: readonly Task[], width: number, onDone: (r: TaskResult) => void): Promise<TaskResult[]> {
  const results: TaskResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      const r = await runChild(task);
      onDone(r);
      results.push(r);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/**
 * --speed: a settled network at three sizes, as many events at each. Events per node per
 * simulated second hold steady, so the wall time of one event says how much of the cost is
 * memory: at 300 nodes the whole network fits in the caches.
 */
async function speedOnly(): Promise<void> {
  const sizes = [300, 1_000, 10_000];
  const runs = 3;
  const tasks = sizes.flatMap((nodes) =>
    Array.from({ length: runs }, (): Task => ({ scenario: 'stable', nodes, seed: 2, speedOnly: true })),
  );
  const results = await pool(tasks, 1, () => undefined);
  const figures: Record<string, number> = {};
  const measured = new Map<number, { usPerEvent: number; eventsPerNodeS: number }>();
  for (const nodes of sizes) {
    const rs = results.filter((r) => r.task.nodes === nodes);
    const usPerEvent = median(rs.map((r) => (r.steadyWallMs * 1_000) / r.steadyEvents));
    const eventsPerNodeS = median(rs.map((r) => r.steadyEvents / r.simulatedWindowS / nodes));
    const speed = median(rs.map((r) => r.steadySpeed));
    process.stdout.write(
      `n=${nodes}: ${usPerEvent.toFixed(2)} µs per event, ${eventsPerNodeS.toFixed(2)} events per node per simulated s, ${speed.toFixed(1)} simulated s per wall s (median of ${runs}; per run ${rs.map((r) => r.steadySpeed.toFixed(1)).join(', ')})\n`,
    );
    figures[`us_per_event_${nodes}`] = round(usPerEvent, 2);
    figures[`sim_speed_${nodes}`] = round(speed, 1);
    measured.set(nodes, { usPerEvent, eventsPerNodeS });
  }
  const floor = measured.get(300) as { usPerEvent: number };
  const big = measured.get(10_000) as { eventsPerNodeS: number };
  const bound = 1e6 / (floor.usPerEvent * big.eventsPerNodeS * 10_000);
  process.stdout.write(
    `at 10,000 nodes with every event as fast as at 300: ${bound.toFixed(1)} simulated s per wall s\n`,
  );
  process.stdout.write(`${JSON.stringify({ bench: 'sim-speed', ...figures })}\n`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--speed')) return speedOnly();
  const quick = process.argv.includes('--quick');
  const big = quick ? 2_000 : 10_000;
  const small = quick ? 500 : 1_000;
  const seeds = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const tasks: Task[] = [
    // The two long runs first, so they overlap everything else.
    { scenario: 'lifeguard', nodes: big, seed: 1, lifeguard: true, hourS: quick ? 300 : undefined },
    { scenario: 'lifeguard', nodes: big, seed: 1, lifeguard: false, hourS: quick ? 300 : undefined },
    { scenario: 'stable', nodes: big, seed: 1 },
    ...seeds(quick ? 1 : 2).map((seed): Task => ({ scenario: 'crash-1pct', nodes: big, seed })),
    ...seeds(quick ? 1 : 2).map((seed): Task => ({ scenario: 'crash-80pct', nodes: big, seed })),
    ...seeds(quick ? 2 : 5).map((seed): Task => ({ scenario: 'crash-1pct', nodes: small, seed })),
    ...seeds(quick ? 2 : 5).map((seed): Task => ({ scenario: 'crash-80pct', nodes: small, seed })),
    ...seeds(quick ? 1 : 3).map((seed): Task => ({ scenario: 'stable', nodes: small, seed })),
  ];

  const cpu = cpus();
  process.stdout.write(
    `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}\n` +
      `runs: ${tasks.length} (two at a time, each in its own process)${quick ? ' [--quick: smaller and shorter, not the real figures]' : ''}\n\n`,
  );
  const started = performance.now();
  const done = (r: TaskResult) => {
    const t = r.task;
    process.stdout.write(
      `  done ${t.scenario}${t.lifeguard === false ? ' (Lifeguard off)' : ''} n=${t.nodes} seed=${t.seed}: ${r.simulatedS.toFixed(0)} simulated s in ${r.wallS.toFixed(1)} s\n`,
    );
  };
  const results = await pool(tasks, 2, done);
  // Speed is timed alone, so the other run does not share the memory bus with it.
  const [speedRun] = await pool([{ scenario: 'stable', nodes: big, seed: 2 }], 1, done);
  const of = (scenario: Task['scenario'], nodes: number, lifeguard?: boolean) =>
    results.filter(
      (r) =>
        r.task.scenario === scenario &&
        r.task.nodes === nodes &&
        (lifeguard === undefined || r.task.lifeguard === lifeguard),
    );

  const lines: string[] = [''];
  const say = (s: string) => lines.push(s);

  say('1. crash 1% at once: seconds until every active neighbour declared each crashed node dead');
  const detect: Record<number, { p50: number; p99: number }> = {};
  for (const n of [small, big]) {
    const rs = of('crash-1pct', n);
    const d = rs.map((r) => r.figures.detection).filter((x): x is NonNullable<typeof x> => x !== null);
    detect[n] = { p50: median(d.map((x) => x.p50S)), p99: median(d.map((x) => x.p99S)) };
    say(
      `   n=${n}: p50 ${detect[n].p50.toFixed(2)} s, p99 ${detect[n].p99.toFixed(2)} s (median of ${rs.length} seeds; per seed p99 ${d.map((x) => x.p99S.toFixed(2)).join(', ')}; undetected ${d.reduce((a, x) => a + x.undetected, 0)} of ${d.reduce((a, x) => a + x.crashed, 0)})`,
    );
  }

  say('2. one hour, 1% packet loss, 10% slow nodes (half their ticks late by up to 2 s)');
  const on = of('lifeguard', big, true)[0];
  const off = of('lifeguard', big, false)[0];
  for (const [label, r] of [
    ['Lifeguard on ', on],
    ['Lifeguard off', off],
  ] as const) {
    const f = r.figures;
    say(
      `   ${label}: ${f.falseDeaths} false deaths (live peers declared dead; ${f.staleDeaths} of them after the peer had already refuted) in ${f.nodeHours.toFixed(0)} node-hours = ${f.falseDeathsPer1kNodeHours.toFixed(4)} per 1,000 node-hours; ${f.suspicions} suspicions, ${f.refutations} refutations; ${f.traffic.bytesPerNodePerS.toFixed(0)} B/s per node`,
    );
  }
  const fdOn = on.figures.falseDeathsPer1kNodeHours;
  const fdOff = off.figures.falseDeathsPer1kNodeHours;
  say(
    `   off / on: ${fdOn > 0 ? (fdOff / fdOn).toFixed(1) : fdOff > 0 ? 'infinite (none with Lifeguard on)' : 'n/a (none either way)'}`,
  );

  say("3. 80% crash at once; 30 s later: survivors' largest component and flood reach");
  const eighty: Record<number, { component: number; reach: number }> = {};
  for (const n of [small, big]) {
    const rs = of('crash-80pct', n);
    eighty[n] = {
      component: median(rs.map((r) => r.figures.components[0]?.fraction ?? 0)),
      reach: median(rs.map((r) => r.figures.floods?.reachMin ?? 0)),
    };
    say(
      `   n=${n}: component ${(eighty[n].component * 100).toFixed(2)}%, flood reach ${(eighty[n].reach * 100).toFixed(2)}% of survivors (median of ${rs.length} seeds; per seed ${rs.map((r) => `${((r.figures.components[0]?.fraction ?? 0) * 100).toFixed(1)}/${((r.figures.floods?.reachMin ?? 0) * 100).toFixed(1)}`).join(', ')})`,
    );
  }

  say('4. stable network');
  const stable: Record<
    number,
    { reach: number; dup: number; bytes: number; active: number; passive: number; msgs: number; hops: number }
  > = {};
  for (const n of [small, big]) {
    const rs = of('stable', n);
    stable[n] = {
      reach: Math.min(...rs.map((r) => r.figures.floods?.reachMin ?? 0)),
      dup: median(rs.map((r) => r.figures.floods?.dupPerPeerPerMsg ?? NaN)),
      bytes: median(rs.map((r) => r.figures.traffic.bytesPerNodePerS)),
      msgs: median(rs.map((r) => r.figures.traffic.messagesPerNodePerS)),
      active: median(rs.map((r) => r.figures.views.activeMean)),
      passive: median(rs.map((r) => r.figures.views.passiveMean)),
      hops: Math.max(...rs.map((r) => r.figures.floods?.maxHops ?? 0)),
    };
    const s = stable[n];
    say(
      `   n=${n}: flood reach ${(s.reach * 100).toFixed(2)}% (worst of ${rs.length * 20} floods), duplicates per peer per message ${s.dup.toFixed(2)} (active view ${rs[0].activeViewSize}), max hops ${s.hops}, ${s.bytes.toFixed(0)} B/s and ${s.msgs.toFixed(2)} messages/s per node, views active ${s.active.toFixed(2)} passive ${s.passive.toFixed(2)}`,
    );
  }
  const ratio = stable[big].bytes / stable[small].bytes;
  say(`   bytes per node, n=${big} / n=${small}: ${ratio.toFixed(3)}`);

  say(
    `5. speed at n=${big}: ${speedRun.steadySpeed.toFixed(1)} simulated s per wall s (30 settled seconds of a stable network, one process running alone)`,
  );
  say(`   whole bench: ${((performance.now() - started) / 1_000).toFixed(0)} s wall`);
  process.stdout.write(`${lines.join('\n')}\n`);

  const summary = {
    bench: 'sim',
    n: big,
    detect_p99_s: round(detect[big].p99, 2),
    // Four decimals: a single false death in 10,000 node-hours is 0.1003, and must not print as 0.1.
    false_deaths_per_1k_node_hours: round(fdOn, 4),
    false_deaths_no_lifeguard: round(fdOff, 4),
    survivor_component_80: round(eighty[big].component, 4),
    flood_reach_80: round(eighty[big].reach, 4),
    flood_reach_stable: round(stable[big].reach, 4),
    dup_per_msg: round(stable[big].dup, 3),
    bytes_per_node_ratio_10k_1k: round(ratio, 3),
    sim_speed: round(speedRun.steadySpeed, 1),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
