// Who may run which admin text command. The admin port is unauthenticated, as gearmand's is;
// while the server listens on loopback only, every peer is local and may run everything. Once
// it listens beyond loopback, commands that change state or show payloads are refused for peers
// outside the allowed addresses (default: loopback); gearmand's read-only ones stay open, so
// gearadmin --status and monitoring keep working from anywhere that can reach the port.

import net from 'node:net';
import { gtError, invalidArgument } from '../errors.js';

/** Default `adminAllow`: loopback. */
export const LOOPBACK = ['127.0.0.0/8', '::1'];

/**
 * Commands any peer may run: gearmand's read-only ones (`show jobs` lists handles and counts,
 * never payloads). Everything else (`jobs …`, `shutdown`, `drop`/`create function`, `cancel
 * job`, `maxqueue`, and any command added later) needs an allowed peer: a list of what is safe,
 * not of what is dangerous.
 */
const OPEN = new Set(['status', 'prioritystatus', 'workers', 'show', 'version', 'getpid', 'verbose']);

export class AdminPolicy {
  private readonly allowed: net.BlockList;
  private readonly loopback: net.BlockList;
  /** The listening address is beyond loopback: restricted commands need an allowed peer. */
  private guarded = false;

  /** @param allow addresses and CIDRs (`10.0.0.0/8`, `fd00::/8`); throws GT_INVALID_ARGUMENT naming a bad one. */
  constructor(allow: readonly string[] = LOOPBACK) {
    this.allowed = blockList(allow);
    this.loopback = blockList(LOOPBACK);
  }

  /** The address the server is bound to (`0.0.0.0`, `::`, `10.1.2.3`, `127.0.0.1`). */
  listen(address: string): void {
    this.guarded = !this.has(this.loopback, address);
  }

  /** Null when `peer` may run the command `words`; otherwise the ERR line to answer. */
  refusal(peer: string, words: readonly string[]): string | null {
    if (!this.guarded) return null;
    const cmd = words[0]?.toLowerCase() ?? '';
    if (cmd === '' || OPEN.has(cmd) || this.has(this.allowed, peer)) return null;
    const err = gtError('GT_ADMIN_NOT_ALLOWED', cmd, peer);
    return `ERR ${err.gearmanCode} ${err.message.replace(/ /g, '+')}\r\n`;
  }

  private has(list: net.BlockList, address: string): boolean {
    const type = net.isIPv6(address) ? 'ipv6' : net.isIPv4(address) ? 'ipv4' : null;
    return type !== null && list.check(address, type);
  }
}

/** A BlockList (used as an allow list) of addresses and CIDRs. */
function blockList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const bad = (): Error => invalidArgument('an IP address or CIDR (10.0.0.0/8, fd00::/8)', 'adminAllow', entry);
    if (typeof entry !== 'string') throw bad();
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = net.isIP(address);
    if (family === 0) throw bad();
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (slash < 0) {
      list.addAddress(address, type);
      continue;
    }
    const bits = entry.slice(slash + 1);
    const prefix = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw bad();
    list.addSubnet(address, prefix, type);
  }
  return list;
}
