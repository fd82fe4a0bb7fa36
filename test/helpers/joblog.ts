// The job log over the admin protocol (`jobs list …`, `jobs show ID`): JSON lines ending in ".".

import { adminCommand } from '../../src/client/admin.js';

/** Run a `jobs …` admin command on the server at `port`; one record per line. */
export async function adminJobs(port: number, command: string): Promise<Record<string, unknown>[]> {
  const reply = await adminCommand('127.0.0.1', port, command);
  return reply
    .split('\n')
    .filter((l) => l !== '' && l !== '.')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
