// Worker processes' log lines, re-emitted on the supervisor's stderr with the process's name
// (`worker:thumbnail#2`) in place of the one the child gave itself, so every line says which
// process wrote it. Lines that are not pino JSON (a crash trace, node's own errors) become
// JSON lines too: error level from stderr, info from stdout.

import type { Logger } from '../log.js';

/** A pino line as parsed; the relay rewrites its name. */
export type LogRecord = Record<string, unknown> & { level?: unknown; msg?: unknown };

const LEVEL_METHODS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export function parseLogLine(text: string): LogRecord | null {
  if (!text.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as LogRecord) : null;
  } catch {
    return null;
  }
}

export class LogRelay {
  /**
   * @param log the supervisor's logger: used on a terminal (pretty output), where lines are
   *   logged again through it; elsewhere lines are rewritten as JSON and written as they are.
   */
  constructor(
    private readonly log: Logger,
    private readonly pretty: boolean,
    private readonly write: (text: string) => void = (text) => void process.stderr.write(text),
  ) {}

  relay(name: string, pid: number | undefined, stream: 'stdout' | 'stderr', text: string, rec: LogRecord | null): void {
    const record: LogRecord = rec ?? { level: stream === 'stderr' ? 50 : 30, time: Date.now(), pid, msg: text };
    if (this.pretty) {
      const { level, msg, name: _name, hostname: _host, ...rest } = record;
      const method = LEVEL_METHODS[typeof level === 'number' ? level : 30] ?? 'info';
      this.log[method]({ ...rest, name, pid }, typeof msg === 'string' ? msg : '');
      return;
    }
    // Keeps the child's key order (pino writes name before pid), only the value changes.
    record.name = name;
    this.write(`${JSON.stringify(record)}\n`);
  }
}

/** Splits a stream into lines; a line longer than `max` is cut there rather than buffered without bound. */
export class LineSplitter {
  private buf = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly max = 64 * 1024,
  ) {}

  push(chunk: string): void {
    const text = this.buf + chunk;
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      if (nl > start) this.onLine(text.slice(start, nl));
      start = nl + 1;
    }
    this.buf = text.slice(start);
    while (this.buf.length > this.max) {
      this.onLine(this.buf.slice(0, this.max));
      this.buf = this.buf.slice(this.max);
    }
  }

  end(): void {
    if (this.buf !== '') this.onLine(this.buf);
    this.buf = '';
  }
}
