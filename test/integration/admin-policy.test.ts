// The admin text port once the server listens beyond loopback: a peer outside --admin-allow
// (default: loopback) gets ERR for commands that change state or show payloads, and keeps
// gearmand's read-only commands. The remote peer is real: a network namespace joined to this
// one by a veth pair on a /30 the test creates (and removes) for itself.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { connect, type RawPeer } from '../helpers/raw.js';
import { startInProcess } from '../helpers/servers.js';

const run = promisify(execFile);
type Started = Awaited<ReturnType<typeof startInProcess>>;

// Names and addresses of our own: unique per process, on a /30 nothing else uses.
const tag = process.pid % 10000;
const NS = `gt-admin-${tag}`;
const HOST_IF = `gtah${tag}`;
const NS_IF = `gtan${tag}`;
const SUBNET = `10.231.${process.pid % 250}`;
const HOST_ADDR = `${SUBNET}.1`;
const NS_ADDR = `${SUBNET}.2`;

/** Why the namespace cannot be made here, or null when it can. */
function cannotIsolate(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating a network namespace needs root';
  if (spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' }).status !== 0) return 'the ip tool (iproute2) is not installed';
  return null;
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function setUpNamespace(): void {
  ip('netns', 'add', NS);
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
  ip('link', 'set', NS_IF, 'netns', NS);
  ip('addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('-n', NS, 'addr', 'add', `${NS_ADDR}/30`, 'dev', NS_IF);
  ip('-n', NS, 'link', 'set', NS_IF, 'up');
  ip('-n', NS, 'link', 'set', 'lo', 'up');
}

function tearDownNamespace(): void {
  // Deleting the namespace deletes its end of the pair, and with it ours.
  spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', HOST_IF], { stdio: 'ignore' });
}

/**
 * Send admin lines from inside the namespace (source address NS_ADDR) to HOST_ADDR:port, one
 * at a time; resolves with each reply: a line starting OK or ERR, or rows up to a "." line.
 */
async function remoteAdmin(port: number, lines: string[]): Promise<string[]> {
  const script = `
    const net = require('node:net');
    const [port, host, ...lines] = process.argv.slice(1);
    const s = net.connect(Number(port), host);
    let buf = '';
    const replies = [];
    const next = () => { if (lines.length === 0) { s.end(); console.log(JSON.stringify(replies)); return; } s.write(lines.shift() + '\\n'); };
    s.on('connect', next);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const first = buf.indexOf('\\n');
        if (first < 0) return;
        let end = -1;
        if (/^(OK|ERR)/.test(buf)) end = first + 1;
        else { const m = /(^|\\n)\\.\\n/.exec(buf); if (m) end = m.index + m[0].length; }
        if (end < 0) return;
        replies.push(buf.slice(0, end));
        buf = buf.slice(end);
        next();
      }
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });
  `;
  const { stdout } = await run('ip', ['netns', 'exec', NS, process.execPath, '-e', script, String(port), HOST_ADDR, ...lines], { timeout: 20_000 });
  return JSON.parse(stdout) as string[];
}

async function localAdmin(p: RawPeer, line: string, until: 'dot' | 'line'): Promise<string> {
  p.send(`${line}\n`);
  return p.readText(until);
}

const reason = cannotIsolate();
const skip = reason !== null && process.env.CI !== 'true' ? `skipped: ${reason}` : false;

describe('admin commands from a peer outside --admin-allow', { skip }, () => {
  let srv: Started;
  let local: RawPeer;
  before(async () => {
    if (reason !== null) assert.fail(`CI=true: ${reason}`);
    tearDownNamespace(); // what a killed earlier run may have left
    setUpNamespace();
    // Every address (the remote peer reaches HOST_ADDR, the local one 127.0.0.1): not loopback.
    srv = await startInProcess({ host: '0.0.0.0' });
    local = await connect(srv.port);
  });
  after(async () => {
    local?.destroy();
    await srv?.stop();
    tearDownNamespace();
  });

  test('refuses jobs show, jobs list, shutdown, drop function, cancel job, maxqueue with ERR naming the command', async () => {
    const replies = await remoteAdmin(srv.port, [
      'jobs show x',
      'jobs list',
      'shutdown',
      'drop function f',
      'cancel job H:x:1',
      'maxqueue f 1',
      'create function f',
    ]);
    const words = ['jobs', 'jobs', 'shutdown', 'drop', 'cancel', 'maxqueue', 'create'];
    for (const [i, r] of replies.entries()) {
      assert.equal(
        r,
        `ERR PERMISSION_DENIED Admin+command+${words[i]}+is+not+allowed+from+${NS_ADDR}:+the+server+listens+beyond+loopback+` +
          'and+only+--admin-allow+peers+may+change+state+or+read+payloads\r\n',
      );
    }
    // The server is still up: the refused shutdown did nothing.
    assert.equal(await localAdmin(local, 'version', 'line'), `OK ${srv.server.version}\n`);
  });

  test("gearmand's read-only commands stay open: status, workers, show jobs, show unique jobs, version, getpid, verbose", async () => {
    const replies = await remoteAdmin(srv.port, ['status', 'workers', 'show jobs', 'show unique jobs', 'prioritystatus', 'version', 'getpid', 'verbose']);
    assert.equal(replies[0], '.\n');
    assert.match(replies[1]!, new RegExp(`${NS_ADDR} - :`));
    assert.equal(replies[2], '.\n');
    assert.equal(replies[3], '.\n');
    assert.equal(replies[4], '.\n');
    assert.equal(replies[5], `OK ${srv.server.version}\n`);
    assert.equal(replies[6], `OK ${process.pid}\n`);
    assert.match(replies[7]!, /^OK [A-Z]+\n$/);
  });

  test('a loopback peer keeps every command', async () => {
    assert.match(await localAdmin(local, 'jobs list', 'dot'), /^\.\n$/);
    assert.equal(await localAdmin(local, 'create function admin_policy_fn', 'line'), 'OK\r\n');
    assert.equal(await localAdmin(local, 'maxqueue admin_policy_fn 5', 'line'), 'OK\r\n');
    assert.equal(await localAdmin(local, 'drop function admin_policy_fn', 'line'), 'OK\r\n');
  });
});

describe('--admin-allow names the peers that may', { skip }, () => {
  let srv: Started;
  before(async () => {
    if (reason !== null) assert.fail(`CI=true: ${reason}`);
    tearDownNamespace();
    setUpNamespace();
    srv = await startInProcess({ host: HOST_ADDR, adminAllow: [`${SUBNET}.0/30`] });
  });
  after(async () => {
    await srv?.stop();
    tearDownNamespace();
  });

  test('a peer inside the listed subnet gets every command', async () => {
    const [list, created] = await remoteAdmin(srv.port, ['jobs list', 'create function admin_allow_fn']);
    assert.equal(list, '.\n');
    assert.equal(created, 'OK\r\n');
  });
});

describe('--admin-allow values', () => {
  test('addresses and CIDRs, IPv4 and IPv6, are accepted; anything else is refused naming the value', async () => {
    const s = await startInProcess({ adminAllow: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'] });
    await s.stop();
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/x', '', '::/129']) {
      await assert.rejects(startInProcess({ adminAllow: [bad] }), (err: Error) => {
        assert.equal(err.message, `Expected an IP address or CIDR (10.0.0.0/8, fd00::/8) for adminAllow but received ${bad} of type string`);
        return true;
      });
    }
  });

  test('a server on loopback serves every command to its (loopback) peers whatever the list', async () => {
    const s = await startInProcess({ adminAllow: ['10.0.0.0/8'] });
    const p = await connect(s.port);
    try {
      assert.equal(await localAdmin(p, 'create function admin_loopback_fn', 'line'), 'OK\r\n');
    } finally {
      p.destroy();
      await s.stop();
    }
  });
});
