// pino logging for every geartrain process: JSON lines on stderr, pretty on a terminal.

import pino, { type LevelWithSilent, type Logger } from 'pino';

export type { Logger };
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** @defaultValue GEARTRAIN_LOG_LEVEL or 'info' */
  level?: string;
  /** Process name carried by every line (e.g. `server`, `worker:thumbnail#2`). */
  name?: string;
  /** Pretty-print; @defaultValue true when stderr is a TTY */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.GEARTRAIN_LOG_LEVEL ?? 'info';
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  const base = { name: opts.name };
  if (pretty) {
    return pino({ level, base }, pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } }));
  }
  return pino({ level, base: { ...base, pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

/** A logger that writes nothing: the default for embedded servers and libraries. */
export const silentLogger: Logger = pino({ level: 'silent' });
