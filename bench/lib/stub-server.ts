// A stub Gearman server: the ceiling of the background load on its machine. It answers each
// SUBMIT_JOB_BG with JOB_CREATED and each GRAB_JOB with a canned JOB_ASSIGN while it owes jobs,
// and keeps nothing else: no queue, no job objects, no protocol checks. It writes the way the
// server does (src/server/connection.ts): each socket's replies as one buffer, all sockets once
// per turn of the event loop. Whatever it reaches is what the load generator, the kernel and
// Node's sockets allow; a real server can only come close to it (bench/background-noop.ts
// prints the ratio).
//
//   node --import tsx bench/lib/stub-server.ts PORT

import net from 'node:net';
import { res } from '../../src/protocol/codec.js';
import { Cmd } from '../../src/protocol/commands.js';

const HEADER = 12;
const NO_JOB = res(Cmd.NO_JOB);
const NOOP = res(Cmd.NOOP);
const PAYLOAD = Buffer.alloc(100, 'x');

let owed = 0;
let seq = 0;
const sleeping = new Set<net.Socket>();
const pending = new Map<net.Socket, Buffer[]>();

function reply(s: net.Socket, b: Buffer): void {
  const out = pending.get(s);
  if (out !== undefined) return void out.push(b);
  if (pending.size === 0) setImmediate(flush);
  pending.set(s, [b]);
}

function flush(): void {
  for (const [s, out] of pending) if (!s.destroyed) s.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  pending.clear();
}

function serve(s: net.Socket): void {
  s.setNoDelay(true);
  let rest: Buffer | null = null;
  s.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    rest = null;
    let off = 0;
    while (buf.length - off >= HEADER) {
      const end = off + HEADER + buf.readUInt32BE(off + 8);
      if (end > buf.length) break;
      switch (buf.readUInt32BE(off + 4)) {
        case Cmd.SUBMIT_JOB_BG:
          owed++;
          reply(s, res(Cmd.JOB_CREATED, `H:stub:${++seq}`));
          for (const w of sleeping) reply(w, NOOP);
          sleeping.clear();
          break;
        case Cmd.GRAB_JOB:
          if (owed === 0) reply(s, NO_JOB);
          else {
            owed--;
            reply(s, res(Cmd.JOB_ASSIGN, `H:stub:${++seq}`, 'bench_noop', PAYLOAD));
          }
          break;
        case Cmd.PRE_SLEEP:
          if (owed > 0) reply(s, NOOP);
          else sleeping.add(s);
          break;
      }
      off = end;
    }
    if (off < buf.length) rest = Buffer.from(buf.subarray(off));
  });
  s.on('close', () => sleeping.delete(s));
  s.on('error', () => {});
}

net.createServer(serve).listen(Number(process.argv[2]), '127.0.0.1');
