// `pipeline server`: run the job server in the foreground until SIGINT/SIGTERM.

import type { Command } from 'commander';
import { GearmanServer } from '../server/server.js';
import { commandLogger, parsePort, parseSize } from './options.js';

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the Gearman-compatible job server')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', parsePort, 4730)
    .option('--max-packet-size <bytes>', 'largest packet accepted, e.g. 64m', parseSize, 64 * 1024 * 1024)
    .action(async (opts: { host: string; port: number; maxPacketSize: number }, cmd: Command) => {
      const log = commandLogger(cmd, 'server');
      const server = new GearmanServer({ host: opts.host, port: opts.port, maxPacketSize: opts.maxPacketSize, logger: log });
      await server.listen();
      let signals = 0;
      const stop = (signal: string): void => {
        signals++;
        if (signals > 1) {
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        log.info({ signal }, 'stopping');
        void server.close({ graceful: true }).then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      server.on('shutdown', () => process.exit(0));
    });
}
