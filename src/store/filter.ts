// Shared predicates over job records, for the stores that filter in process.

import { PENDING_STATES, type JobFilter, type JobRecord, type JobState } from './types.js';

export const isPending = (s: JobState): boolean => PENDING_STATES.includes(s);

export function matches(j: JobRecord, f: JobFilter): boolean {
  return (f.state === undefined || j.state === f.state) && (f.fn === undefined || j.fn === f.fn) && (f.since === undefined || j.updatedAt >= f.since);
}
