// The Gearman binary command table, as in gearmand 1.1.x (libgearman/command.cc).
// Every part of geartrain that knows about a packet type reads it from here.

/** Who may send a packet: `req` travels client/worker → server, `res` server → client/worker, `both` either. */
export type Direction = 'req' | 'res' | 'both';

export interface CommandInfo {
  readonly name: string;
  readonly id: number;
  /** Number of NUL-separated arguments before the opaque data part. */
  readonly args: number;
  /** Whether the last part is free-form data (may itself contain NUL bytes). */
  readonly data: boolean;
  readonly dir: Direction;
}

// name, id, argument count (not counting data), has data, direction
export const COMMANDS = [
  { name: 'TEXT', id: 0, args: 0, data: false, dir: 'req' },
  { name: 'CAN_DO', id: 1, args: 1, data: false, dir: 'req' },
  { name: 'CANT_DO', id: 2, args: 1, data: false, dir: 'req' },
  { name: 'RESET_ABILITIES', id: 3, args: 0, data: false, dir: 'req' },
  { name: 'PRE_SLEEP', id: 4, args: 0, data: false, dir: 'req' },
  { name: 'UNUSED', id: 5, args: 0, data: false, dir: 'req' },
  { name: 'NOOP', id: 6, args: 0, data: false, dir: 'res' },
  { name: 'SUBMIT_JOB', id: 7, args: 2, data: true, dir: 'req' },
  { name: 'JOB_CREATED', id: 8, args: 1, data: false, dir: 'res' },
  { name: 'GRAB_JOB', id: 9, args: 0, data: false, dir: 'req' },
  { name: 'NO_JOB', id: 10, args: 0, data: false, dir: 'res' },
  { name: 'JOB_ASSIGN', id: 11, args: 2, data: true, dir: 'res' },
  { name: 'WORK_STATUS', id: 12, args: 3, data: false, dir: 'both' },
  { name: 'WORK_COMPLETE', id: 13, args: 1, data: true, dir: 'both' },
  { name: 'WORK_FAIL', id: 14, args: 1, data: false, dir: 'both' },
  { name: 'GET_STATUS', id: 15, args: 1, data: false, dir: 'req' },
  { name: 'ECHO_REQ', id: 16, args: 0, data: true, dir: 'req' },
  { name: 'ECHO_RES', id: 17, args: 0, data: true, dir: 'res' },
  { name: 'SUBMIT_JOB_BG', id: 18, args: 2, data: true, dir: 'req' },
  { name: 'ERROR', id: 19, args: 2, data: false, dir: 'res' },
  { name: 'STATUS_RES', id: 20, args: 5, data: false, dir: 'res' },
  { name: 'SUBMIT_JOB_HIGH', id: 21, args: 2, data: true, dir: 'req' },
  { name: 'SET_CLIENT_ID', id: 22, args: 1, data: false, dir: 'req' },
  { name: 'CAN_DO_TIMEOUT', id: 23, args: 2, data: false, dir: 'req' },
  { name: 'ALL_YOURS', id: 24, args: 0, data: false, dir: 'req' },
  { name: 'WORK_EXCEPTION', id: 25, args: 1, data: true, dir: 'both' },
  { name: 'OPTION_REQ', id: 26, args: 1, data: false, dir: 'req' },
  { name: 'OPTION_RES', id: 27, args: 1, data: false, dir: 'res' },
  { name: 'WORK_DATA', id: 28, args: 1, data: true, dir: 'both' },
  { name: 'WORK_WARNING', id: 29, args: 1, data: true, dir: 'both' },
  { name: 'GRAB_JOB_UNIQ', id: 30, args: 0, data: false, dir: 'req' },
  { name: 'JOB_ASSIGN_UNIQ', id: 31, args: 3, data: true, dir: 'res' },
  { name: 'SUBMIT_JOB_HIGH_BG', id: 32, args: 2, data: true, dir: 'req' },
  { name: 'SUBMIT_JOB_LOW', id: 33, args: 2, data: true, dir: 'req' },
  { name: 'SUBMIT_JOB_LOW_BG', id: 34, args: 2, data: true, dir: 'req' },
  { name: 'SUBMIT_JOB_SCHED', id: 35, args: 7, data: true, dir: 'req' },
  { name: 'SUBMIT_JOB_EPOCH', id: 36, args: 3, data: true, dir: 'req' },
  { name: 'SUBMIT_REDUCE_JOB', id: 37, args: 3, data: true, dir: 'req' },
  { name: 'SUBMIT_REDUCE_JOB_BACKGROUND', id: 38, args: 3, data: true, dir: 'req' },
  { name: 'GRAB_JOB_ALL', id: 39, args: 0, data: false, dir: 'req' },
  { name: 'JOB_ASSIGN_ALL', id: 40, args: 4, data: true, dir: 'res' },
  { name: 'GET_STATUS_UNIQUE', id: 41, args: 1, data: false, dir: 'req' },
  { name: 'STATUS_RES_UNIQUE', id: 42, args: 6, data: false, dir: 'res' },
] as const satisfies readonly CommandInfo[];

export type CommandName = (typeof COMMANDS)[number]['name'];

/** Numeric ids by name, e.g. `Cmd.SUBMIT_JOB === 7`. */
export const Cmd = Object.fromEntries(COMMANDS.map((c) => [c.name, c.id])) as {
  readonly [K in CommandName]: Extract<(typeof COMMANDS)[number], { name: K }>['id'];
};

/** Lookup by id; undefined for ids gearmand does not define. */
export const commandById: readonly (CommandInfo | undefined)[] = (() => {
  const table: (CommandInfo | undefined)[] = [];
  for (const c of COMMANDS) table[c.id] = c;
  return table;
})();

export const MAX_COMMAND_ID = COMMANDS.length - 1;

export function commandName(id: number): string {
  return commandById[id]?.name ?? `UNKNOWN(${id})`;
}

/** Gearman's fixed limits (libgearman/constants.h). */
export const GEARMAN_MAX_UNIQUE_SIZE = 64;
export const GEARMAN_FUNCTION_MAX_SIZE = 512;
