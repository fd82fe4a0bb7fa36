// Plain types the job (job.ts), the job registry (registry.ts) and the peers' connections share.
// They name nothing of those modules, so each reads this one and none of them reads another
// to get a type.

export type Priority = 0 | 1 | 2;

/** A worker's state as the registry wakes it: 0 awake, 1 asleep (PRE_SLEEP), 2 woken by a NOOP and not yet back. */
export type WakeState = 0 | 1 | 2;

/**
 * How one registry spells its jobs' names. A job stores only its sequence number: its handle,
 * its job log id and (when the client sent none) its unique id are made from it when asked.
 * Those three strings and the map entries behind them were about 300 bytes of a queued job's
 * 1 KB, and making them was a third of the server's time per submission (bench/memory.ts,
 * bench/background-noop.ts).
 */
export interface JobNaming {
  /** `H:host`: handles are `H:host:SEQ`, as gearmand's. */
  readonly handlePrefix: string;
  /** Job log ids are `BOOT-SEQ`, unique across restarts and across servers sharing a store. */
  readonly bootId: string;
  /** The first 20 characters of every unique id this registry makes up (random per process). */
  readonly uniquePrefix: string;
  /** When the registry started (ms since the epoch): jobs keep their creation time from it. */
  readonly epoch: number;
}
