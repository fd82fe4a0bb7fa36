// Parsers for CLI flags: each names the flag and what was expected.

import { type Command, InvalidArgumentError } from 'commander';
import { GeartrainError } from '../errors.js';
import { createLogger, LOG_LEVELS, type Logger } from '../log.js';
import { parseSize as parseBytes, SIZE_WORDS } from '../shared/size.js';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`Expected an integer port between 0 and 65535 but received "${value}".`);
  return n;
}

/** A size flag (`--max-packet-size 64m`), read by src/shared/size.ts as the config's size keys are. */
export function parseSize(value: string): number {
  const bytes = parseBytes(value);
  if (bytes === undefined) throw new InvalidArgumentError(`Expected a positive ${SIZE_WORDS} but received "${value}".`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `5m`, `1h` → ms. A bare number is refused: seconds or milliseconds? */
export function parseDuration(name: string) {
  return (value: string): number => {
    const m = /^(\d+)(ms|s|m|h)$/.exec(value.trim());
    if (!m) throw new InvalidArgumentError(`Expected a duration such as 30s, 5m or 1h for ${name} but received "${value}".`);
    return Number(m[1]) * DURATION_UNITS[m[2]!]!;
  };
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError(`Expected a positive integer for ${name} but received "${value}".`);
    return n;
  };
}

export function parseNonNegativeInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`Expected a non-negative integer for ${name} but received "${value}".`);
    return Number(value);
  };
}

/** host:port[,host:port…]; a missing port means 4730. */
export function parseServers(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError(`Expected host:port[,host:port…] but received "${value}".`);
  for (const s of list) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s);
    if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) throw new InvalidArgumentError(`Expected host:port but received "${s}".`);
  }
  return list;
}

function logLevelMessage(name: string, value: string): string {
  return `Expected one of ${LOG_LEVELS.join(', ')} for ${name} but received "${value}".`;
}

export function parseLogLevel(value: string): string {
  if (!LOG_LEVELS.includes(value as never)) throw new InvalidArgumentError(logLevelMessage('--log-level', value));
  return value;
}

/**
 * The logger for a command, from the global --log-level. A flag was checked while parsing; the
 * default comes from GEARTRAIN_LOG_LEVEL, which is checked here and, like a bad flag, exits 2.
 */
export function commandLogger(cmd: Command, name: string): Logger {
  const level = String(cmd.optsWithGlobals().logLevel ?? 'info');
  if (!LOG_LEVELS.includes(level as never)) {
    throw new GeartrainError('GT_INVALID_ARGUMENT', logLevelMessage('GEARTRAIN_LOG_LEVEL', level));
  }
  return createLogger({ level, name });
}
