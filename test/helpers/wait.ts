// Bounded waits, the one set every test uses: each names what it waited for, so a hang fails
// with a reason instead of a test-runner timeout. They guard against hangs; they are not timing
// assertions. Every one takes (what, thing, ms).

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How often `until` asks again: quick enough for state that lasts a few ticks, cheap for probes that spawn or connect. */
const POLL_MS = 25;

/**
 * Poll `probe` until it returns something other than undefined or false, and return that.
 * A probe that throws counts as "not yet" (a file, socket or process that is not there yet);
 * the last error is in the message when `ms` have passed.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : `; the probe last threw ${String(last)}`}`);
    await sleep(POLL_MS);
  }
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
export async function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
