// The first command's demo: an embedded job server on a free port, a worker, and a client
// submitting jobs at three priorities plus a fan-out with addTask/runTasks. Nothing to start
// by hand; everything stops at the end.
import { Client, GearmanServer, Worker } from '../dist/index.js';

const server = new GearmanServer({ port: 0 });
const { port } = await server.listen();
const servers = [`127.0.0.1:${port}`];
console.log(`job server listening on 127.0.0.1:${port}`);

const worker = new Worker({ servers, concurrency: 2 });
worker.addFunction('reverse', async (job) => {
  job.status(1, 1);
  return job.text().split('').reverse().join('');
});
await worker.start();

const client = new Client({ servers });
for (const priority of /** @type {const} */ (['high', 'normal', 'low'])) {
  const out = await client.submit('reverse', `${priority} priority job`, { priority });
  console.log(`${priority.padEnd(6)} → ${out.toString()}`);
}

for (const word of ['geartrain', 'gearman', 'pipeline']) client.addTask('reverse', word);
const results = await client.runTasks();
console.log(`fan-out: ${results.map((r) => `${r.ok ? r.data : r.error?.message}`).join(', ')}`);

await client.close();
await worker.close();
await server.close();
console.log('done');
