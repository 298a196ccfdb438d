/**
 * A loop that runs an async task every `intervalMs`, never two runs at once, and whose stop()
 * waits for the run in flight. Errors go to `onError`; the loop goes on.
 */
export interface PeriodicTask {
  stop(): Promise<void>;
}

export function startPeriodic(
  intervalMs: number,
  task: () => Promise<void>,
  onError: (error: unknown) => void,
): PeriodicTask {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const tick = () => {
    running = task()
      .catch(onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);

  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
