// Self-fencing: a server that cannot renew its lease on the job log stops handing out logged
// jobs before another server sharing the store could claim them, and once the store answers
// again it runs only the jobs still its own. The store is SQLite behind a wrapper that fails
// on demand (as a shared database cut off from this server would); "another server" is a
// direct write of the owner column, as a claim by that server would leave it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { adminCommand } from '../../src/client/admin.js';
import { Client, Worker } from '../../src/client/index.js';
import { GeartrainError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { JobChange, JobFilter, JobRecord, JobStore } from '../../src/store/types.js';
import { startInProcess } from '../helpers/servers.js';
import { sleep, until } from '../helpers/wait.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'geartrain-fencing-'));
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A store that answers every call with GT_STORE_UNAVAILABLE while `down`. */
class FlakyStore implements JobStore {
  readonly durable = true;
  down = false;
  constructor(readonly inner: SqliteStore) {}
  get name(): string {
    return this.inner.name;
  }
  private gate(): void {
    if (this.down) throw new GeartrainError('GT_STORE_UNAVAILABLE', `${this.name} is cut off`);
  }
  open = (): Promise<void> => this.inner.open();
  close = (): Promise<void> => this.inner.close();
  write = async (c: readonly JobChange[]): Promise<void> => {
    this.gate();
    return this.inner.write(c);
  };
  ping = async (): Promise<void> => {
    this.gate();
    return this.inner.ping();
  };
  claim = async (o: string, l: number, n: number, own?: boolean): Promise<JobRecord[]> => {
    this.gate();
    return this.inner.claim(o, l, n, own);
  };
  renew = async (o: string, l: number): Promise<void> => {
    this.gate();
    return this.inner.renew(o, l);
  };
  release = async (o: string): Promise<void> => {
    this.gate();
    return this.inner.release(o);
  };
  get = async (id: string): Promise<JobRecord | null> => {
    this.gate();
    return this.inner.get(id);
  };
  list = async (f: JobFilter): Promise<JobRecord[]> => {
    this.gate();
    return this.inner.list(f);
  };
  prune = async (b: number): Promise<number> => {
    this.gate();
    return this.inner.prune(b);
  };
}

describe('lease self-fencing', () => {
  it('stops handing out logged jobs when the lease cannot be renewed; afterwards runs only the jobs still its own', async () => {
    const store = new FlakyStore(new SqliteStore(path.join(tmp, 'fence.db')));
    const LEASE = 1000;
    const s = await startInProcess({ store, serverId: 'fence-a', leaseMs: LEASE });
    closers.push(() => s.stop());
    const client = new Client({ servers: [s.address] });
    closers.push(() => client.close());
    for (const p of ['a', 'b', 'c']) await client.submitBackground('fence_bg', p, { unique: p });
    const rows = new Map((await store.inner.list({ fn: 'fence_bg' })).map((r) => [r.unique, r]));
    assert.equal(rows.size, 3);

    // The store goes away; past half a lease the server must not start its logged jobs.
    store.down = true;
    await sleep(LEASE / 2 + 200);
    const ran: string[] = [];
    const w = new Worker({ servers: [s.address] });
    w.addFunction('fence_bg', (job) => void ran.push(job.text()));
    w.addFunction('fence_fg', (job) => `fg ${job.text()}`);
    await w.start();
    closers.push(() => w.close({ timeoutMs: 1000 }));
    await sleep(LEASE);
    assert.deepEqual(ran, [], 'no logged job was handed out while the lease could have been claimed by another server');
    assert.match(await adminCommand('127.0.0.1', s.port, 'status'), /^fence_bg\t3\t0\t1$/m);
    // Foreground jobs are not in the log: they still run.
    assert.equal((await client.submit('fence_fg', 'x')).toString(), 'fg x');

    // Meanwhile another server claimed job b (its lease had run out in the store).
    const far = Date.now() + 600_000;
    await store.inner.write([{ op: 'update', id: rows.get('b')!.id, set: { owner: 'fence-b', leaseUntil: far } }]);
    store.down = false;

    await until('the jobs still its own to run', () => ran.length >= 2);
    await sleep(LEASE);
    assert.deepEqual(ran.sort(), ['a', 'c'], 'b belongs to the other server now and did not run here');
    const b = await store.inner.get(rows.get('b')!.id);
    assert.deepEqual([b!.owner, b!.state], ['fence-b', 'queued']);
    assert.match(await adminCommand('127.0.0.1', s.port, 'status'), /^fence_bg\t0\t0\t1$/m);
  });
});
