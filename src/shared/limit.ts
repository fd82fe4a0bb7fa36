// Runs an async step over a list, a few at a time: the client's runTasks, the thumbnail
// worker's outputs and cache-warm's URLs. Items start in list order; the first ones start in
// one synchronous loop, so a client's submissions leave in one corked write.

export interface RunLimitedOptions {
  /** Asked before each start: once true, no further item starts (those running finish). */
  stop?: () => boolean;
}

/**
 * Run `run` over `items`, at most `limit` (1 or more) at a time; settles once every started run has. A run
 * that rejects stops further starts, and the first rejection is the result once the runs still
 * going have ended (nothing keeps running after the promise settles).
 */
export function runLimited<T>(items: readonly T[], limit: number, run: (item: T, index: number) => Promise<void>, opts: RunLimitedOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let active = 0;
    let failed = false;
    let failure: unknown;
    const launch = (): void => {
      while (active < limit && next < items.length && !failed && !opts.stop?.()) {
        active++;
        const i = next++;
        let running: Promise<void>;
        try {
          running = run(items[i]!, i);
        } catch (err) {
          running = Promise.reject(err);
        }
        running.then(finished, (err: unknown) => {
          if (!failed) {
            failed = true;
            failure = err;
          }
          finished();
        });
      }
      if (active === 0) {
        if (failed) reject(failure);
        else resolve();
      }
    };
    const finished = (): void => {
      active--;
      launch();
    };
    launch();
  });
}
