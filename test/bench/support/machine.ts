/** The machine's details, printed next to every benchmark's numbers. */
import { cpus, loadavg, totalmem } from 'node:os';

export function describeMachine(): string {
  const cpu = cpus();
  return [
    `node ${process.version}`,
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown cpu'}`,
    `${Math.round(totalmem() / 2 ** 30)} GiB`,
    `load ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  ].join(', ');
}
