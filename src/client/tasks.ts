// Tasks for Client.addTask/runTasks: a queued submission whose outcome becomes a TaskResult,
// and a runner that keeps at most N of them in flight.

import type { Submission } from './submission.js';
import type { JobRef, Task, TaskResult } from './types.js';

export class TaskEntry implements Task {
  readonly result: Promise<TaskResult>;
  private resolve!: (r: TaskResult) => void;
  private done = false;

  constructor(
    readonly fn: string,
    readonly id: number,
    readonly submission: Submission,
  ) {
    this.result = new Promise((resolve) => (this.resolve = resolve));
  }

  get ref(): JobRef | undefined {
    return this.submission.ref;
  }

  settle(r: Omit<TaskResult, 'fn' | 'id'>): void {
    if (this.done) return;
    this.done = true;
    const ref = r.ref ?? this.submission.ref;
    this.resolve({ fn: this.fn, id: this.id, ...r, ...(ref ? { ref } : {}) });
  }
}

/** Run `run` over `items`, at most `limit` at a time; `run` must not reject. */
export function runLimited<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let next = 0;
    let active = 0;
    const finished = (): void => {
      active--;
      launch();
    };
    const launch = (): void => {
      // Started in one synchronous loop, so their packets leave in one corked write.
      while (active < limit && next < items.length) {
        active++;
        void run(items[next++]!).then(finished, finished);
      }
      if (active === 0 && next === items.length) resolve();
    };
    launch();
  });
}
