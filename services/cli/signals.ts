/**
 * Long-running roles stop on SIGTERM or SIGINT: stop() drains and closes, then the process
 * exits 0. A second signal, or a stop that outlives its grace, exits at once with 1.
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  log: { info(o: object, m: string): void; error(o: object, m: string): void },
  graceMs: number,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.error({ signal }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    const deadline = setTimeout(() => {
      log.error({ graceMs }, 'stop did not finish within its grace period: exiting');
      process.exit(1);
    }, graceMs + 5_000);
    deadline.unref();
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
