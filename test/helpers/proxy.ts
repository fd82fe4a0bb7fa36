// A TCP forwarder a test puts between a program and a service (a job server, a database), so
// it can cut the link the way a crash or a network failure would, and bring it back, without
// touching the service itself (the databases on the machine are shared).

import net from 'node:net';

export interface Proxy {
  /** "127.0.0.1:port" */
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  /** Connections open through the proxy now. */
  readonly open: number;
  /** Destroy every connection through the proxy; new ones are still forwarded. */
  drop(): void;
  /** Destroy every connection and refuse new ones (accepted, then reset at once) until restore(). */
  cut(): void;
  /**
   * Stop forwarding without closing anything, as a network partition or a frozen host would:
   * bytes sent either way go nowhere, new connections are accepted and then hear nothing.
   */
  freeze(): void;
  /** Forward new connections again (connections held by freeze() are reset). */
  restore(): void;
  /** Stop listening and destroy everything. */
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }): Promise<Proxy> {
  const links = new Set<net.Socket>();
  let refusing = false;
  let frozen = false;
  /** Connections accepted while frozen: held open, never forwarded. */
  const held = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((inbound) => {
    accepted++;
    inbound.on('error', () => {});
    if (refusing) {
      inbound.resetAndDestroy();
      return;
    }
    if (frozen) {
      held.add(inbound);
      inbound.on('close', () => held.delete(inbound));
      inbound.resume();
      return;
    }
    const outbound = net.connect(target.port, target.host);
    outbound.on('error', () => {});
    const pair = [inbound, outbound];
    for (const s of pair) {
      links.add(s);
      s.on('close', () => {
        for (const p of pair) {
          links.delete(p);
          p.destroy();
        }
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const dropAll = (): void => {
    // A reset, as when a host or a link dies, not a polite FIN.
    for (const s of links) s.resetAndDestroy();
    links.clear();
  };
  return {
    address: `127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return links.size / 2;
    },
    drop: dropAll,
    cut() {
      refusing = true;
      dropAll();
    },
    freeze() {
      frozen = true;
      for (const s of links) {
        s.unpipe();
        // Read and drop what arrives, so the peer's writes succeed as they would into a void.
        s.removeAllListeners('data');
        s.on('data', () => {});
      }
    },
    restore() {
      refusing = false;
      if (frozen) {
        frozen = false;
        dropAll();
        for (const s of held) s.resetAndDestroy();
        held.clear();
      }
    },
    async close() {
      refusing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropAll();
      for (const s of held) s.destroy();
      await closed;
    },
  };
}
