// GET /api/v1/events: server-sent events, one `snapshot` event per interval (queues, totals,
// workers) to every open stream; a stream's first snapshot also carries the throughput history.
// One timer for all streams, running only while one is open; the snapshot is built once per
// tick. A stream that stops reading is dropped, not buffered.

import type { ServerResponse } from 'node:http';

/** A stream with this much unsent is dropped. */
const MAX_UNSENT = 1024 * 1024;

export class EventHub {
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    /** With `first`, the snapshot a new stream starts with. */
    private readonly snapshot: (first: boolean) => unknown,
    private readonly intervalMs: number,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Take over a response as an event stream. */
  add(res: ServerResponse): void {
    if (this.closed) {
      res.statusCode = 503;
      res.end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The browser's EventSource waits this long before reconnecting.
    res.write(`retry: ${Math.max(1000, this.intervalMs)}\n\n`);
    res.write(this.frame(true));
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    });
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
  }

  private frame(first: boolean): string {
    return `event: snapshot\ndata: ${JSON.stringify(this.snapshot(first))}\n\n`;
  }

  private tick(): void {
    const data = this.frame(false);
    for (const res of this.streams) {
      if (res.writableLength > MAX_UNSENT) res.destroy();
      else res.write(data);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}
