// Tasks for Client.addTask/runTasks: a queued submission whose outcome becomes a TaskResult.

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
